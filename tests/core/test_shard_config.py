"""GEMSDASH_SHARDS: a bad map is one line naming the shard; types map to shards; a shard whose
Redis does not answer is named at worker start and reported (not fatal) by the reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gemsdash.queue import ConfigError, Runtime, configure, health, stats_json
from gemsdash.queue import runtime as runtime_module
from gemsdash.queue.config import load_settings
from tests.conftest import test_settings
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
PAY = {"pay": {"url": "redis://:hunter2@127.0.0.1:6390/0", "queues": ["payment-processing"]}}


@pytest.mark.parametrize(
    ("shards", "expected"),
    [
        (
            {
                "a": {"url": "redis://h:1/0", "queues": ["email-notification"]},
                "b": {"url": "redis://h:2/0", "queues": ["email-notification"]},
            },
            "shard 'b': job type 'email-notification' is already on shard 'a'",
        ),
        ({"default": {"url": "redis://h:1/0", "queues": ["email-notification"]}}, "shard 'default': a shard name"),
        ({"pay": {"queues": ["payment-processing"]}}, "shard 'pay': give exactly one of url"),
        (
            {"pay": {"url": "http://h:1", "queues": ["payment-processing"]}},
            "shard 'pay': url: url must start with redis://",
        ),
        ({"pay": {"url": "redis://h:1/0", "queues": []}}, "shard 'pay': queues:"),
        ({"pay": {"url": "redis://h:1/0", "queues": ["payment-processing"], "port": 1}}, "shard 'pay': port:"),
    ],
)
def test_a_bad_shard_map_is_one_line_naming_the_shard(
    monkeypatch: pytest.MonkeyPatch, shards: dict[str, object], expected: str
) -> None:
    monkeypatch.setenv("REDIS_ENABLED", "true")
    monkeypatch.setenv("GEMSDASH_SHARDS", json.dumps(shards))
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert message.startswith("invalid value for GEMSDASH_SHARDS:") and expected in message, message
    assert "\n" not in message


def test_an_unknown_job_type_is_one_line_naming_the_shard_once_the_types_are_loaded() -> None:
    shards = json.dumps({"pay": {"url": "redis://127.0.0.1:1/0", "queues": ["payments"]}})
    with pytest.raises(ConfigError) as caught:
        configure(test_settings(redis_enabled=True, shards_map=shards), role="oneshot")
    assert str(caught.value).startswith("invalid value for GEMSDASH_SHARDS: shard 'pay': unknown job type 'payments'")
    assert "\n" not in str(caught.value)


def test_not_json_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_ENABLED", "true")
    monkeypatch.setenv("GEMSDASH_SHARDS", "{pay: 1}")
    with pytest.raises(ConfigError, match=r"^invalid value for GEMSDASH_SHARDS: .*not JSON"):
        load_settings(_env_file=None)


def test_memory_mode_with_shards_is_a_config_error_not_a_fallback() -> None:
    with pytest.raises(
        ConfigError, match=r"^invalid configuration: GEMSDASH_SHARDS needs REDIS_ENABLED=true"
    ) as caught:
        test_settings(redis_enabled=False, shards_map=json.dumps(PAY))
    assert "\n" not in str(caught.value)


def test_types_map_to_their_shard_and_shard_urls_are_masked() -> None:
    settings = test_settings(redis_enabled=True, redis_url="redis://127.0.0.1:6379/0", shards_map=json.dumps(PAY))
    assert settings.shard_names() == ["default", "pay"]
    assert settings.shard_of("payment-processing") == "pay"
    assert settings.shard_of("email-notification") == "default"
    assert settings.shard_queues("pay") == ["payment-processing"]
    assert "payment-processing" not in settings.shard_queues("default")
    pay = settings.on_shard("pay")
    assert (pay.shard, pay.display_url) == ("pay", "redis://:***@127.0.0.1:6390/0")
    assert pay.on_shard("default").connection_url == "redis://127.0.0.1:6379/0"
    assert "hunter2" in settings.secrets()
    masked = test_settings(redis_enabled=True, redis_url="redis://:d3fault@h:1/0", shards_map=json.dumps(PAY))
    assert {"hunter2", "d3fault"} <= set(masked.on_shard("pay").secrets())
    with pytest.raises(ConfigError, match="no shard 'nope'"):
        settings.on_shard("nope")


def test_a_shard_may_be_sentinel_or_cluster_settings() -> None:
    shards = {
        "pay": {
            "sentinels": "10.0.0.1:26379,10.0.0.2:26379",
            "sentinel_master": "pay",
            "queues": ["payment-processing"],
        },
        "bulk": {"cluster_nodes": "10.0.1.1:7000", "queues": ["emotion-analysis"]},
    }
    settings = test_settings(
        redis_enabled=True, redis_url="redis://u:pw@127.0.0.1:6379/2", shards_map=json.dumps(shards)
    )
    pay, bulk = settings.on_shard("pay"), settings.on_shard("bulk")
    assert pay.display_url == "sentinel://10.0.0.1:26379,10.0.0.2:26379/pay"
    assert pay.connection_url == "redis://u:pw@127.0.0.1:6379/2"  # the data nodes' user, password and db
    assert (bulk.display_url, bulk.namespace) == ("redis-cluster://10.0.1.1:7000", "{gemsdash}")
    assert settings.shard_queues("default") == ["sketch-generation", "email-notification"]


def run_cli(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gemsdash", *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def shard_env(redis_url: str, namespace: str, pay_url: str) -> dict[str, str]:
    shards = {"pay": {"url": pay_url, "queues": ["payment-processing"]}}
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "REDIS_ENABLED": "true",
        "REDIS_URL": redis_url,
        "GEMSDASH_NAMESPACE": namespace,
        "GEMSDASH_SHARDS": json.dumps(shards),
        "GEMSDASH_DATA_DIR": os.environ["GEMSDASH_DATA_DIR"],
    }


@pytest.mark.slow
def test_a_worker_on_an_unreachable_shard_stops_with_one_line_naming_it(redis_url: str, namespace: str) -> None:
    env = shard_env(redis_url, namespace, f"redis://127.0.0.1:{free_port()}/0")
    done = run_cli("worker", "--shard", "pay", env=env)
    assert done.returncode == 2
    assert done.stderr.startswith("gemsdash: shard 'pay': Redis unreachable at redis://127.0.0.1:"), done.stderr
    assert done.stderr.count("\n") == 1
    unknown = run_cli("worker", "--shard", "nope", env=env)
    assert unknown.returncode == 2 and "no shard 'nope' in GEMSDASH_SHARDS" in unknown.stderr
    wrong = run_cli("worker", "--shard", "pay", "--queues", "email-notification", env=env)
    assert wrong.returncode == 2 and "shard 'pay' holds only payment-processing" in wrong.stderr


@pytest.fixture
def half_down(redis_url: str, namespace: str) -> Iterator[Runtime]:
    """The default shard on the test Redis, the pay shard on a port nobody listens on."""
    shards = json.dumps({"pay": {"url": f"redis://127.0.0.1:{free_port()}/0", "queues": ["payment-processing"]}})
    rt = configure(
        test_settings(redis_enabled=True, redis_url=redis_url, namespace=namespace, shards_map=shards), role="oneshot"
    )
    yield rt
    runtime_module.reset()


def test_reads_show_the_shards_that_answer_and_name_the_one_that_does_not(half_down: Runtime) -> None:
    data = stats_json()
    assert data["shards"]["default"]["up"] is True
    assert data["shards"]["pay"]["up"] is False and "Connection refused" in data["shards"]["pay"]["error"]
    assert data["queues"]["payment-processing"] is None
    assert data["queues"]["email-notification"]["queued"] == 0
    report = health()
    assert [p.kind for p in report.problems] == ["shard_down"]
    assert "payment-processing" in report.problems[0].detail


def test_without_shards_the_json_has_no_shard_fields(redis_runtime: Runtime) -> None:
    assert "shards" not in stats_json() and "unavailable" not in stats_json()


def test_on_a_cluster_a_shard_may_be_a_hash_tag() -> None:
    shards = json.dumps({"pay": {"tag": "pay", "queues": ["payment-processing"]}})
    settings = test_settings(redis_enabled=True, redis_cluster_nodes="10.0.1.1:7000", shards_map=shards)
    assert (settings.namespace, settings.on_shard("pay").namespace) == ("{gemsdash}", "{pay}gemsdash")
    # Another deployment's namespace with the same map: the same slot, other keys.
    other = test_settings(
        redis_enabled=True, redis_cluster_nodes="10.0.1.1:7000", namespace="staging", shards_map=shards
    )
    assert other.on_shard("pay").namespace == "{pay}staging"
    assert settings.on_shard("pay").cluster_nodes == [("10.0.1.1", 7000)]
    with pytest.raises(ConfigError, match="hash tag needs the default Redis to be a Cluster"):
        test_settings(redis_enabled=True, shards_map=shards)
