"""payment-processing: capture, refund or verify through the configured PaymentGateway."""

from __future__ import annotations

from gemsdash.actors.gateway import SandboxGateway
from gemsdash.actors.protocols import PaymentGateway
from gemsdash.actors.settings import implementation
from gemsdash.queue import JobType, job_actor
from gemsdash.queue.payloads import PaymentPayload


def gateway() -> PaymentGateway:
    impl: PaymentGateway = implementation("payment_gateway", SandboxGateway, PaymentGateway)
    return impl


@job_actor(JobType.PAYMENT_PROCESSING)
def process_payment(payload: PaymentPayload) -> dict[str, object]:
    """Declines raise PaymentDeclined (a PermanentJobError: straight to dead); GatewayUnavailable is
    retried with the job's backoff. The idempotency key makes every retry safe."""
    gw = gateway()
    if payload.operation == "capture":
        return gw.capture(payload)
    if payload.operation == "refund":
        return gw.refund(payload)
    return gw.verify(payload)
