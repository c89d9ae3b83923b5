"""High-availability settings: Sentinel and Cluster addresses, the hash-tagged namespace, the
replica guarantee's knobs; bad values are one line naming the variable; the sentinel password is a
secret like REDIS_PASSWORD."""

from __future__ import annotations

import pytest

from gemsdash.queue import ConfigError
from gemsdash.queue.config import load_settings


def test_sentinel_settings_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_SENTINELS", "10.0.0.1:26379, [::1]:26380")
    monkeypatch.setenv("REDIS_SENTINEL_PASSWORD", "sentinel-s3cret")
    monkeypatch.setenv("GEMSDASH_MIN_REPLICAS", "1")
    settings = load_settings(_env_file=None)
    assert settings.sentinels == [("10.0.0.1", 26379), ("::1", 26380)]
    assert settings.redis_sentinel_master == "mymaster"
    assert (settings.min_replicas, settings.replica_timeout_ms) == (1, 1000)
    assert settings.display_url == "sentinel://10.0.0.1:26379,::1:26380/mymaster"
    assert "sentinel-s3cret" in settings.secrets()
    assert "sentinel-s3cret" not in repr(settings)


def test_a_cluster_namespace_is_one_hash_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_CLUSTER_NODES", "127.0.0.1:7000")
    assert load_settings(_env_file=None).namespace == "{gemsdash}"
    monkeypatch.setenv("GEMSDASH_NAMESPACE", "{team-a}")
    assert load_settings(_env_file=None).namespace == "{team-a}"


def test_a_tagged_namespace_is_accepted_without_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMSDASH_NAMESPACE", "{gd}")
    assert load_settings(_env_file=None).namespace == "{gd}"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_SENTINELS", "sentinel-without-port"),
        ("REDIS_SENTINELS", "a:1,b:99999"),
        ("REDIS_CLUSTER_NODES", ":7000"),
        ("GEMSDASH_MIN_REPLICAS", "-1"),
        ("GEMSDASH_REPLICA_TIMEOUT_MS", "0"),
        ("GEMSDASH_NAMESPACE", "{half"),
        ("GEMSDASH_NAMESPACE", "{a}{b}"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    assert str(caught.value).startswith(f"invalid value for {name}:")
    assert "\n" not in str(caught.value)


def test_sentinel_and_cluster_together_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_SENTINELS", "127.0.0.1:26379")
    monkeypatch.setenv("REDIS_CLUSTER_NODES", "127.0.0.1:7000")
    with pytest.raises(ConfigError, match="REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both"):
        load_settings(_env_file=None)
