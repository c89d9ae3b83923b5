"""The email_notification job (placeholder declaration so the package imports; the real work follows)."""

from __future__ import annotations

from gemsdash.queue import JobType, PermanentJobError, job_actor
from gemsdash.queue.payloads import EmailPayload


@job_actor(JobType.EMAIL_NOTIFICATION)
def send_email(payload: EmailPayload) -> dict[str, object]:
    """Not implemented yet."""
    raise PermanentJobError("email job not implemented yet")
