"""email-notification through a real worker to a real SMTP server on loopback."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from jinja2 import meta

import gemsdash.queue as q
from gemsdash.actors.mail import environment, money
from gemsdash.actors.settings import ActorSettings
from gemsdash.queue import JobState, JobType, Runtime
from gemsdash.queue import context as job_context
from gemsdash.queue.handlers import actor_of
from gemsdash.queue.payloads import EMAIL_TEMPLATE_VARIABLES
from tests.actors.conftest import reconfigure
from tests.actors.smtp_server import SmtpServer
from tests.actors.waiting import finished
from tests.support import FAST_RETRY, free_port, wait_for

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

SENDER = "gemsdash <noreply@example.test>"
CONTEXTS: dict[str, dict[str, str | int]] = {
    "welcome": {"name": "Ann"},
    "password-reset": {"name": "Ann", "reset_url": "https://example.test/reset/abc123"},
    "sketch-ready": {"name": "Ann", "sketch_url": "https://example.test/sketches/42"},
    "payment-receipt": {"name": "Ann", "amount": 1999, "currency": "EUR", "payment_id": "pay_77"},
}


@pytest.fixture
def smtp(actor_config: ActorSettings) -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        reconfigure(actor_config, **{"smtp_host": "127.0.0.1", "smtp_port": server.port, "email_from": SENDER})
        yield server


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_every_template_arrives_once_and_well_formed(any_runtime: Runtime, smtp: SmtpServer) -> None:
    ids = {name: q.send_email("ann@example.test", name, context, user_id="u1") for name, context in CONTEXTS.items()}
    records = {name: finished(job_id) for name, job_id in ids.items()}
    assert all(r.state is JobState.SUCCEEDED for r in records.values()), [r.error for r in records.values()]
    received = {m["X-Gemsdash-Template"]: m for m in smtp.messages}
    assert len(smtp.messages) == len(CONTEXTS) == len(received)
    for name, message in received.items():
        job_id = ids[name]
        assert message["Message-ID"] == f"<{job_id}@example.test>"
        assert message["From"] == SENDER
        assert message["To"] == "ann@example.test"
        assert message["Subject"] and message["Date"]
        assert message.get_content_type() == "multipart/alternative"
        text, html = parts(message)
        assert "Ann" in text and "Ann" in html
        assert html.lstrip().startswith("<!DOCTYPE html>")
        for value in CONTEXTS[name].values():
            if isinstance(value, str) and value != "EUR":
                assert value in text, (name, value)
        result = records[name].result
        assert result["message_id"] == message["Message-ID"]
        assert result["delivered_via"] == f"smtp://127.0.0.1:{smtp.port}"
    receipt_text, _ = parts(received["payment-receipt"])
    assert "19.99 EUR" in receipt_text


def test_send_welcome_email_helper(memory_runtime: Runtime, smtp: SmtpServer) -> None:
    record = finished(q.send_welcome_email("bob@example.test", "Bob", "u9"))
    assert record.state is JobState.SUCCEEDED, record.error
    (message,) = smtp.messages
    assert message["Subject"] == "Welcome to gemsdash, Bob!"
    assert message["To"] == "bob@example.test"


def test_html_part_is_autoescaped_and_text_part_is_not(memory_runtime: Runtime, smtp: SmtpServer) -> None:
    name = '<script>alert("x")</script> & Co'
    record = finished(q.send_welcome_email("eve@example.test", name))
    assert record.state is JobState.SUCCEEDED, record.error
    text, html = parts(smtp.messages[0])
    assert name in text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in html


def test_temporary_rejection_is_retried_and_delivers_exactly_one_copy(any_runtime: Runtime, smtp: SmtpServer) -> None:
    smtp.recorder.data_replies.append("451 4.3.0 Mail server busy, try again later")
    record = finished(q.send_welcome_email("ann@example.test", "Ann", **FAST_RETRY))
    assert record.state is JobState.SUCCEEDED, record.error
    assert record.attempts == 2
    assert len(smtp.messages) == 1
    assert smtp.messages[0]["Message-ID"] == f"<{record.id}@example.test>"


def test_permanent_rejection_is_dead_without_retries(any_runtime: Runtime, smtp: SmtpServer) -> None:
    smtp.recorder.refused_rcpt["nobody@example.test"] = "550 5.1.1 No such user here"
    record = finished(q.send_welcome_email("nobody@example.test", "Nobody", **FAST_RETRY))
    assert record.state is JobState.DEAD
    assert record.attempts == 1
    assert record.error is not None
    assert "550" in record.error.message and "No such user" in record.error.message
    assert smtp.messages == []


def test_unreachable_server_is_retried_with_backoff_then_dead(
    any_runtime: Runtime, actor_config: ActorSettings
) -> None:
    reconfigure(actor_config, **{"smtp_host": "127.0.0.1", "smtp_port": free_port()})
    record = finished(q.send_welcome_email("ann@example.test", "Ann", **FAST_RETRY))
    assert record.state is JobState.DEAD
    assert record.attempts == 3
    assert record.error is not None and record.error.type == "TransientDeliveryError"
    assert [e.state for e in record.timeline].count(JobState.RETRYING) == 2


def test_a_redelivered_job_whose_message_was_accepted_sends_no_second_copy(
    any_runtime: Runtime, smtp: SmtpServer
) -> None:
    """A worker that dies after the server accepted the message, before acknowledging the job, gets
    its message delivered again with the same id: replayed here by running the job's actor again
    in this thread under that job's id, exactly as the redelivered attempt would."""
    payload = {"to": "ann@example.test", "template": "welcome", "context": {"name": "Ann"}}
    record = finished(q.add_job("email-notification", payload))
    assert record.state is JobState.SUCCEEDED, record.error
    assert len(smtp.messages) == 1

    job_context.enter(job_context.JobContext(record.id, JobType.EMAIL_NOTIFICATION, 2, record.max_attempts))
    try:
        actor_of(JobType.EMAIL_NOTIFICATION).fn(payload)
    finally:
        replay = job_context.leave()
    assert replay["already_sent"] is True
    assert replay["message_id"] == record.result["message_id"]
    assert len(smtp.messages) == 1


def test_without_smtp_host_messages_go_to_the_outbox(any_runtime: Runtime, actor_config: ActorSettings) -> None:
    record = finished(q.send_email("ann@example.test", "sketch-ready", CONTEXTS["sketch-ready"]))
    assert record.state is JobState.SUCCEEDED, record.error
    path = actor_config.data_dir.resolve() / "outbox" / f"{record.id}.eml"
    assert record.result["delivered_via"] == f"file://{path}"
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Message-ID"] == record.result["message_id"]
    text, _ = parts(message)
    assert "https://example.test/sketches/42" in text


@pytest.mark.parametrize("echo", ["password", "auth-plain"])
def test_smtp_login_and_a_wrong_password_never_shows(
    any_runtime: Runtime, actor_config: ActorSettings, caplog: pytest.LogCaptureFixture, echo: str
) -> None:
    caplog.set_level(logging.DEBUG)
    with SmtpServer(credentials=("mailer", "right-horse-battery"), echo=echo) as server:
        base = {"smtp_host": "127.0.0.1", "smtp_port": server.port, "smtp_username": "mailer"}
        reconfigure(actor_config, **{**base, "smtp_password": "right-horse-battery"})
        good = finished(q.send_welcome_email("ann@example.test", "Ann"))
        assert good.state is JobState.SUCCEEDED, good.error
        assert len(server.messages) == 1

        secret = "wrong-staple-9f3k"
        reconfigure(actor_config, **{**base, "smtp_password": secret})
        bad = finished(q.send_welcome_email("ann@example.test", "Ann", **FAST_RETRY))
    assert bad.state is JobState.DEAD
    assert bad.attempts == 1, "a 535 authentication failure is final"
    assert bad.error is not None and "535" in bad.error.message
    # Nor its encoded forms: a server that echoes the AUTH PLAIN argument sends base64 of
    # "\0mailer\0wrong-staple-9f3k" back, and that reply becomes the job's error.
    encoded = base64.b64encode(f"\0mailer\0{secret}".encode()).decode()
    shown = json.dumps(bad.public_dict())
    for form in (secret, encoded, encoded[8:-4]):
        assert form not in shown and form not in caplog.text
    assert len(server.messages) == 1


@pytest.mark.parametrize(
    ("template", "context", "field"),
    [
        ("newsletter", {"name": "Ann"}, "template"),
        ("welcome", {}, "context"),
        ("password-reset", {"name": "Ann"}, "context"),
        ("payment-receipt", {"name": "Ann", "amount": 5, "currency": "EUR"}, "context"),
    ],
)
def test_unknown_template_or_missing_variable_is_refused_at_enqueue(
    memory_runtime: Runtime, template: str, context: dict[str, object], field: str
) -> None:
    with pytest.raises(q.InvalidPayload) as caught:
        q.send_email("ann@example.test", template, context)
    assert field in str(caught.value)
    assert q.list_jobs("email-notification").total == 0


def test_templates_use_exactly_the_declared_variables() -> None:
    env = environment()
    folder = Path(__file__).resolve().parents[2] / "gemsdash" / "actors" / "templates"
    names = {p.name.split(".")[0] for p in folder.iterdir() if not p.name.startswith("_")}
    assert names == set(EMAIL_TEMPLATE_VARIABLES)
    assert env.loader is not None
    layout = meta.find_undeclared_variables(env.parse(env.loader.get_source(env, "_layout.html")[0]))
    assert layout == set()
    for name, declared in EMAIL_TEMPLATE_VARIABLES.items():
        used: set[str] = set()
        for part in (f"{name}.subject.txt", f"{name}.txt", f"{name}.html"):
            source = env.loader.get_source(env, part)[0]
            used |= meta.find_undeclared_variables(env.parse(source))
        assert used == set(declared), name


def test_money_formats_minor_units_by_currency() -> None:
    assert money(1999, "EUR") == "19.99 EUR"
    assert money(500, "JPY") == "500 JPY"
    assert money(1234567, "KWD") == "1,234.567 KWD"
    assert money("12.50", "usd") == "12.50 USD"


def test_invalid_address_is_refused(memory_runtime: Runtime) -> None:
    with pytest.raises(q.InvalidPayload) as caught:
        q.send_welcome_email("not an address", "Ann")
    assert "to" in str(caught.value)
    wait_for(lambda: q.list_jobs("email-notification").total == 0, timeout=1)
