"""email-notification: render a template and deliver it, at most once per job once accepted."""

from __future__ import annotations

from datetime import UTC, datetime

from gemsdash.actors.mail import build_message
from gemsdash.actors.protocols import EmailSender
from gemsdash.actors.settings import actor_settings, implementation
from gemsdash.actors.transport import BuiltinSender
from gemsdash.queue import current_job, current_runtime, define_job_type
from gemsdash.queue.payloads import EmailPayload

#: How long a job's "sent" mark is kept: longer than any job can wait for a retry (dead jobs are
#: kept 7 days and may be retried by an operator until they expire).
SENT_MARK_TTL_SECONDS = 30 * 24 * 3600
#: The job storage's kind of fact for "a server accepted this job's message" (its delivery).
SENT = "email:sent"


def sender() -> EmailSender:
    impl: EmailSender = implementation("email_sender", BuiltinSender, EmailSender)
    return impl


def send_email(payload: EmailPayload) -> dict[str, object]:
    """A retry (or a redelivery after a worker died) of a job whose message was already accepted
    returns the first delivery instead of sending a second copy."""
    job_id = current_job().job_id
    storage = current_runtime().job_storage
    previous = storage.fact(SENT, job_id)
    if previous is not None:
        return {**previous, "already_sent": True}
    message = build_message(payload, job_id, actor_settings().email_from)
    delivered_via = sender().send(message)
    delivery = {
        "message_id": message["Message-ID"],
        "to": payload.to,
        "template": payload.template,
        "subject": message["Subject"],
        "delivered_via": delivered_via,
        "sent_at": datetime.now(UTC).isoformat(),
    }
    storage.record_fact(SENT, job_id, delivery, SENT_MARK_TTL_SECONDS)
    return {**delivery, "already_sent": False}


JOB_TYPE = define_job_type(
    "email-notification",
    payload=EmailPayload,
    handler=send_email,
    attempts=5,
    backoff={"type": "exponential", "delay": 5000},
    time_limit_ms=30_000,
    example={"to": "ada@example.com", "template": "welcome", "context": {"name": "Ada"}, "user_id": "user-42"},
    description="render a template and deliver it over SMTP",
)
