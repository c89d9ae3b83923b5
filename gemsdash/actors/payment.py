"""payment-processing: capture, refund or verify through the configured PaymentGateway."""

from __future__ import annotations

from gemsdash.actors.gateway import SandboxGateway
from gemsdash.actors.protocols import PaymentGateway
from gemsdash.actors.settings import implementation
from gemsdash.queue import define_job_type
from gemsdash.queue.payloads import PaymentPayload


def gateway() -> PaymentGateway:
    impl: PaymentGateway = implementation("payment_gateway", SandboxGateway, PaymentGateway)
    return impl


def process_payment(payload: PaymentPayload) -> dict[str, object]:
    """Declines raise PaymentDeclined (a PermanentJobError: straight to dead); GatewayUnavailable is
    retried with the job's backoff. The idempotency key makes every retry safe."""
    gw = gateway()
    if payload.operation == "capture":
        return gw.capture(payload)
    if payload.operation == "refund":
        return gw.refund(payload)
    return gw.verify(payload)


JOB_TYPE = define_job_type(
    "payment-processing",
    payload=PaymentPayload,
    handler=process_payment,
    priority="high",
    attempts=5,
    backoff={"type": "exponential", "delay": 2000},
    time_limit_ms=30_000,
    example={
        "payment_id": "pay_1001",
        "operation": "capture",
        "amount": 1999,
        "currency": "USD",
        "payment_method": "pm_card_visa",
        "idempotency_key": "order-1001",
    },
    description="capture, refund or verify a payment through the gateway",
)
