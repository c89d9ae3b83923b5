"""GEMSDASH_ADMIN_TOKEN and GEMSDASH_PROTECT_READS as an operator writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gemsdash.http import load_http_settings
from gemsdash.queue import ConfigError


def test_token_and_protection_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMSDASH_ADMIN_TOKEN", "s3cret-value")
    monkeypatch.setenv("GEMSDASH_PROTECT_READS", "true")
    settings = load_http_settings(_env_file=None)
    assert settings.admin_token is not None and settings.admin_token.get_secret_value() == "s3cret-value"
    assert settings.protect_reads is True
    assert "s3cret-value" not in repr(settings)


def test_defaults_leave_changes_disabled_and_reads_open() -> None:
    settings = load_http_settings(_env_file=None)
    assert settings.admin_token is None and settings.protect_reads is False


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_token_counts_as_no_token(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    monkeypatch.setenv("GEMSDASH_ADMIN_TOKEN", blank)
    assert load_http_settings(_env_file=None).admin_token is None


def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMSDASH_PROTECT_READS", "perhaps")
    with pytest.raises(ConfigError, match=r"^invalid value for GEMSDASH_PROTECT_READS: ") as caught:
        load_http_settings(_env_file=None)
    assert "\n" not in str(caught.value)


def test_the_token_is_read_from_a_dotenv_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("GEMSDASH_ADMIN_TOKEN=from-dotenv\n")
    settings = load_http_settings(_env_file=str(env_file))
    assert settings.admin_token is not None and settings.admin_token.get_secret_value() == "from-dotenv"
