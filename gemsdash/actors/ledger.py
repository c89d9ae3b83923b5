"""The sandbox gateway's ledger: captures and refunds per payment, in the runtime's job storage.

The storage (gemsdash.queue.job_storage) keeps the ledger in Redis in Redis mode, so every worker
process shares one ledger, and in the runtime otherwise, with the same rules either way; this module
says what a payment request means to it.
"""

from __future__ import annotations

import hashlib

from gemsdash.queue import Runtime, current_runtime
from gemsdash.queue.job_storage import LedgerEntry, Movement, PaymentState, Recorded, Refused
from gemsdash.queue.payloads import PaymentPayload

__all__ = ["Ledger", "Movement", "PaymentState", "Recorded", "Refused", "ledger"]


def fingerprint(movement: str, request: PaymentPayload) -> str:
    """What makes two requests "the same" for idempotency: everything but the key itself."""
    parts = (movement, request.payment_id, str(request.amount), request.currency, request.payment_method)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def transaction_id(namespace: str, idempotency_key: str) -> str:
    """Derived from the key, so a replayed or concurrent duplicate reports the same transaction."""
    return "txn_" + hashlib.sha256(f"{namespace}\0{idempotency_key}".encode()).hexdigest()[:24]


class Ledger:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def record(self, movement: Movement, request: PaymentPayload) -> Recorded | Refused:
        return self.runtime.job_storage.ledger_record(
            LedgerEntry(
                movement=movement,
                payment_id=request.payment_id,
                amount=request.amount,
                currency=request.currency,
                idempotency_key=request.idempotency_key,
                fingerprint=fingerprint(movement, request),
                transaction_id=transaction_id(self.runtime.settings.namespace, request.idempotency_key),
            )
        )

    def state(self, payment_id: str) -> PaymentState:
        return self.runtime.job_storage.ledger_state(payment_id)


def ledger(runtime: Runtime | None = None) -> Ledger:
    """The ledger of `runtime` (this process's by default)."""
    return Ledger(runtime or current_runtime())
