"""Configuration: the seed's variable names, one-line errors, secrets never shown."""

from __future__ import annotations

import pytest

from gemsdash.queue import ConfigError
from gemsdash.queue.config import load_settings, mask_url


def test_defaults_are_the_seeds(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(_env_file=None)
    assert settings.redis_enabled is False
    assert (settings.redis_host, settings.redis_port, settings.redis_db, settings.redis_ttl) == (
        "localhost",
        6379,
        0,
        3600,
    )
    assert settings.redis_fallback is True
    assert settings.namespace == "gemsdash"
    assert settings.connection_url == "redis://localhost:6379/0"


def test_environment_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_ENABLED", "true")
    monkeypatch.setenv("REDIS_HOST", "cache.internal")
    monkeypatch.setenv("REDIS_PORT", "6380")
    monkeypatch.setenv("REDIS_DB", "3")
    monkeypatch.setenv("REDIS_PASSWORD", "s3cr3t/pw")
    monkeypatch.setenv("REDIS_TTL", "60")
    monkeypatch.setenv("GEMSDASH_NAMESPACE", "team-a")
    settings = load_settings(_env_file=None)
    assert settings.redis_enabled and settings.redis_ttl == 60 and settings.namespace == "team-a"
    assert settings.connection_url == "redis://:s3cr3t%2Fpw@cache.internal:6380/3"
    assert settings.display_url == "redis://:***@cache.internal:6380/3"
    assert "s3cr3t/pw" in settings.secrets()
    assert "s3cr3t" not in repr(settings)


def test_redis_url_overrides_the_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_HOST", "ignored")
    monkeypatch.setenv("REDIS_URL", "rediss://app:pa55@db.example:6390/2")
    settings = load_settings(_env_file=None)
    assert settings.connection_url == "rediss://app:pa55@db.example:6390/2"
    assert settings.display_url == "rediss://app:***@db.example:6390/2"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_PORT", "abc"),
        ("REDIS_ENABLED", "maybe"),
        ("REDIS_TTL", "0"),
        ("REDIS_URL", "http://x"),
        ("GEMSDASH_NAMESPACE", "bad space"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert message.startswith(f"invalid value for {name}:")
    assert "\n" not in message


def test_dotenv_files_are_read_and_local_wins(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("REDIS_PORT=7000\nGEMSDASH_NAMESPACE=from-env\n")
    (tmp_path / ".env.local").write_text("GEMSDASH_NAMESPACE=from-local\n")
    settings = load_settings()
    assert settings.redis_port == 7000
    assert settings.namespace == "from-local"


def test_mask_url_leaves_urls_without_password_alone() -> None:
    assert mask_url("redis://localhost:6379/0") == "redis://localhost:6379/0"
    assert mask_url("redis://u:p@[::1]:6379/0") == "redis://u:***@[::1]:6379/0"
