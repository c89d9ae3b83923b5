"""The payment_processing job (placeholder declaration so the package imports; the real work follows)."""

from __future__ import annotations

from gemsdash.queue import JobType, PermanentJobError, job_actor
from gemsdash.queue.payloads import PaymentPayload


@job_actor(JobType.PAYMENT_PROCESSING)
def process_payment(payload: PaymentPayload) -> dict[str, object]:
    """Not implemented yet."""
    raise PermanentJobError("payment job not implemented yet")
