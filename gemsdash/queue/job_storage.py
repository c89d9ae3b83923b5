"""Where job code keeps its own durable facts: `runtime.job_storage`, the same contract in both modes.

Job code (the payment ledger, the email send log) never sees Redis, its key names or which mode
runs: in Redis mode the facts are in the runtime's Redis, so every worker process shares them, and
an outage is a BackendUnavailable (a retryable job error naming the masked URL); in memory mode they
live in the runtime, exactly as long as the jobs themselves.

The ledger's rules are the same in both: an idempotency key records at most one movement, a key
reused for a different request is refused, a payment has one currency, and refunds never exceed
what was captured.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from gemsdash.queue.jobs import now_ms

#: Journal entries a ledger state shows (the newest).
JOURNAL_SHOWN = 50
Movement = Literal["capture", "refund"]


@dataclass(frozen=True)
class LedgerEntry:
    """One capture or refund to record. `fingerprint` is what makes two requests "the same" for
    the idempotency key; `transaction_id` is what a replay reports."""

    movement: Movement
    payment_id: str
    amount: int
    currency: str
    idempotency_key: str
    fingerprint: str
    transaction_id: str


@dataclass(frozen=True)
class Recorded:
    """One ledger movement as recorded; `replayed` when the key had already been recorded."""

    operation: str
    payment_id: str
    amount: int
    currency: str
    transaction_id: str
    at: int
    captured_total: int
    refunded_total: int
    replayed: bool


@dataclass(frozen=True)
class Refused:
    """The ledger would not record it: `key_reused`, `currency_mismatch` or `refund_exceeds`."""

    reason: str
    detail: str


@dataclass
class PaymentState:
    payment_id: str
    currency: str | None = None
    captured: int = 0
    refunded: int = 0
    captures: int = 0
    refunds: int = 0
    journal: list[dict[str, Any]] = field(default_factory=list)


class JobStorage(Protocol):
    def ledger_record(self, entry: LedgerEntry) -> Recorded | Refused:
        """Record `entry` at most once per idempotency key, atomically with the ledger's rules."""
        ...

    def ledger_state(self, payment_id: str) -> PaymentState: ...

    def fact(self, kind: str, job_id: str) -> dict[str, Any] | None:
        """The fact of `kind` recorded for the job, if any (e.g. `email:sent`: its delivery)."""
        ...

    def record_fact(self, kind: str, job_id: str, fact: dict[str, Any], ttl_s: int) -> None:
        """Keep `fact` for `ttl_s` seconds unless one is already kept (the first one wins)."""
        ...


def journal_entry(done: Recorded) -> dict[str, Any]:
    return {
        "operation": done.operation,
        "amount": done.amount,
        "currency": done.currency,
        "transaction_id": done.transaction_id,
        "at": done.at,
    }


class MemoryJobStorage:
    """Memory mode's: one per runtime, under one lock (facts do not expire: the process is shorter)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[str, Recorded]] = {}
        self._payments: dict[str, PaymentState] = {}
        self._facts: dict[tuple[str, str], dict[str, Any]] = {}

    def ledger_record(self, entry: LedgerEntry) -> Recorded | Refused:
        with self._lock:
            prior = self._keys.get(entry.idempotency_key)
            if prior is not None:
                if prior[0] != entry.fingerprint:
                    return Refused("key_reused", prior[1].operation)
                return replace(prior[1], replayed=True)
            payment = self._payments.setdefault(entry.payment_id, PaymentState(entry.payment_id))
            if payment.currency is not None and payment.currency != entry.currency:
                return Refused("currency_mismatch", payment.currency)
            if entry.movement == "refund" and entry.amount > payment.captured - payment.refunded:
                return Refused("refund_exceeds", str(payment.captured - payment.refunded))
            payment.currency = entry.currency
            if entry.movement == "capture":
                payment.captured += entry.amount
                payment.captures += 1
            else:
                payment.refunded += entry.amount
                payment.refunds += 1
            done = Recorded(
                operation=entry.movement,
                payment_id=entry.payment_id,
                amount=entry.amount,
                currency=entry.currency,
                transaction_id=entry.transaction_id,
                at=now_ms(),
                captured_total=payment.captured,
                refunded_total=payment.refunded,
                replayed=False,
            )
            payment.journal.append(journal_entry(done))
            self._keys[entry.idempotency_key] = (entry.fingerprint, done)
            return done

    def ledger_state(self, payment_id: str) -> PaymentState:
        with self._lock:
            payment = self._payments.get(payment_id)
            if payment is None:
                return PaymentState(payment_id)
            return replace(payment, journal=list(payment.journal[-JOURNAL_SHOWN:]))

    def fact(self, kind: str, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._facts.get((kind, job_id))

    def record_fact(self, kind: str, job_id: str, fact: dict[str, Any], ttl_s: int) -> None:
        with self._lock:
            self._facts.setdefault((kind, job_id), fact)
