"""Choosing another implementation by configuration (`GEMSDASH_<TYPE>=module:factory`)."""

from __future__ import annotations

import io
from email.message import EmailMessage
from pathlib import Path

import pytest
from PIL import Image

import gemsdash.queue as q
from gemsdash.actors.protocols import Sketch
from gemsdash.actors.settings import ActorSettings, check_configuration, load_actor_settings, use_settings
from gemsdash.queue import ConfigError, JobState, Runtime
from tests.actors.conftest import reconfigure
from tests.actors.waiting import finished

SENT: list[EmailMessage] = []


class SolidSketcher:
    """A stand-in for an AI image service: one flat colour, 64 px."""

    def generate(self, prompt: str, style: str, quality: str) -> Sketch:
        buffer = io.BytesIO()
        Image.new("RGB", (64, 48), (10, 200, 30)).save(buffer, format="PNG")
        return Sketch(buffer.getvalue(), 64, 48)


class ListSender:
    def send(self, message: EmailMessage) -> str:
        SENT.append(message)
        return "memory://list"


class NotASender:
    pass


def test_configured_sketch_generator_is_used(memory_runtime: Runtime, actor_config: ActorSettings) -> None:
    reconfigure(actor_config, sketch_generator=f"{__name__}:SolidSketcher")
    record = finished(q.queue_sketch_generation("anything", user_id="u1"))
    assert record.state is JobState.SUCCEEDED, record.error
    assert (record.result["width"], record.result["height"]) == (64, 48)
    with Image.open(Path(record.result["path"])) as image:
        assert image.getpixel((5, 5)) == (10, 200, 30)


def test_configured_email_sender_is_used(any_runtime: Runtime, actor_config: ActorSettings) -> None:
    SENT.clear()
    reconfigure(actor_config, email_sender=f"{__name__}:ListSender")
    record = finished(q.send_welcome_email("ann@example.test", "Ann"))
    assert record.state is JobState.SUCCEEDED, record.error
    assert record.result["delivered_via"] == "memory://list"
    assert [m["Message-ID"] for m in SENT] == [record.result["message_id"]]


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("no_such_module_xyz:factory", "cannot import"),
        (f"{__name__}:missing", "no callable"),
        (f"{__name__}:NotASender", "not a EmailSender"),
    ],
)
def test_a_wrong_implementation_fails_jobs_for_good_with_the_reason(
    memory_runtime: Runtime, actor_config: ActorSettings, spec: str, reason: str
) -> None:
    reconfigure(actor_config, email_sender=spec)
    with pytest.raises(ConfigError, match=reason):
        check_configuration()
    record = finished(q.send_welcome_email("ann@example.test", "Ann", attempts=3))
    assert record.state is JobState.DEAD
    assert record.attempts == 1
    assert record.error is not None and reason in record.error.message


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GEMSDASH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SMTP_HOST", "mail.example.test")
    monkeypatch.setenv("SMTP_PORT", "2525")
    monkeypatch.setenv("SMTP_PASSWORD", "hunter22")
    monkeypatch.setenv("SMTP_STARTTLS", "true")
    monkeypatch.setenv("GEMSDASH_PAYMENT_GATEWAY", "my.payments:gateway")
    settings = load_actor_settings(_env_file=None)
    assert settings.data_dir == tmp_path
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_starttls) == ("mail.example.test", 2525, True)
    assert "hunter22" not in repr(settings)
    assert settings.redact("login failed for hunter22") == "login failed for ***"
    assert settings.payment_gateway == "my.payments:gateway"
    monkeypatch.setenv("SMTP_PORT", "seventy")
    with pytest.raises(ConfigError, match="SMTP_PORT"):
        load_actor_settings(_env_file=None)
    use_settings(None)
