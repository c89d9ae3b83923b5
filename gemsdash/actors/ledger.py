"""The sandbox gateway's ledger: captures and refunds per payment, in the job-state backend.

Redis mode keeps it in Redis (one Lua script per write, see ledger.lua) so every worker process
shares one ledger; memory mode keeps it in this process under a lock, one ledger per runtime. Both
follow the same rules: an idempotency key records at most one operation, a key reused for a different
request is refused, a payment has one currency, and refunds never exceed what was captured.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal, Protocol

from gemsdash.actors.backend import key, per_runtime
from gemsdash.queue import Runtime
from gemsdash.queue.connection import Client, translate_errors
from gemsdash.queue.jobs import now_ms
from gemsdash.queue.middleware.persist import persist
from gemsdash.queue.payloads import PaymentPayload
from gemsdash.queue.redis_store.replication import Replicated

JOURNAL_SHOWN = 50
#: How long a payment job waits for GEMSDASH_MIN_REPLICAS replicas to hold its ledger entry.
LEDGER_PERSIST_S = 120.0
Movement = Literal["capture", "refund"]


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


class Ledger(Protocol):
    def record(self, movement: Movement, request: PaymentPayload) -> Recorded | Refused: ...

    def state(self, payment_id: str) -> PaymentState: ...


def fingerprint(movement: str, request: PaymentPayload) -> str:
    """What makes two requests "the same" for idempotency: everything but the key itself."""
    parts = (movement, request.payment_id, str(request.amount), request.currency, request.payment_method)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def transaction_id(namespace: str, idempotency_key: str) -> str:
    """Derived from the key, so a replayed or concurrent duplicate reports the same transaction."""
    return "txn_" + hashlib.sha256(f"{namespace}\0{idempotency_key}".encode()).hexdigest()[:24]


class MemoryLedger:
    def __init__(self, runtime: Runtime) -> None:
        self.namespace = runtime.settings.namespace
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[str, Recorded]] = {}
        self._payments: dict[str, PaymentState] = {}

    def record(self, movement: Movement, request: PaymentPayload) -> Recorded | Refused:
        digest = fingerprint(movement, request)
        with self._lock:
            prior = self._keys.get(request.idempotency_key)
            if prior is not None:
                if prior[0] != digest:
                    return Refused("key_reused", prior[1].operation)
                return _replayed(prior[1])
            payment = self._payments.setdefault(request.payment_id, PaymentState(request.payment_id))
            if payment.currency is not None and payment.currency != request.currency:
                return Refused("currency_mismatch", payment.currency)
            if movement == "refund" and request.amount > payment.captured - payment.refunded:
                return Refused("refund_exceeds", str(payment.captured - payment.refunded))
            payment.currency = request.currency
            if movement == "capture":
                payment.captured += request.amount
                payment.captures += 1
            else:
                payment.refunded += request.amount
                payment.refunds += 1
            done = Recorded(
                operation=movement,
                payment_id=request.payment_id,
                amount=request.amount,
                currency=request.currency,
                transaction_id=transaction_id(self.namespace, request.idempotency_key),
                at=now_ms(),
                captured_total=payment.captured,
                refunded_total=payment.refunded,
                replayed=False,
            )
            payment.journal.append(_journal_entry(done))
            self._keys[request.idempotency_key] = (digest, done)
            return done

    def state(self, payment_id: str) -> PaymentState:
        with self._lock:
            payment = self._payments.get(payment_id)
            if payment is None:
                return PaymentState(payment_id)
            return PaymentState(
                payment_id,
                payment.currency,
                payment.captured,
                payment.refunded,
                payment.captures,
                payment.refunds,
                list(payment.journal[-JOURNAL_SHOWN:]),
            )


class RedisLedger:
    def __init__(self, runtime: Runtime, client: Client) -> None:
        self.runtime = runtime
        self.client = client
        self._source = resources.files("gemsdash.actors").joinpath("ledger.lua").read_text(encoding="utf-8")
        self._script = client.register_script(self._source)
        settings = runtime.settings
        #: With GEMSDASH_MIN_REPLICAS a movement counts as recorded once replicas hold it: a capture
        #: lost in a failover would be captured again when its job runs again.
        self._replicated = (
            Replicated(client, key(runtime, "ledger"), settings.min_replicas, settings.replica_timeout_ms)
            if settings.min_replicas
            else None
        )

    def _keys(self, payment_id: str) -> tuple[str, str]:
        return key(self.runtime, "ledger", "payment", payment_id), key(self.runtime, "ledger", "journal", payment_id)

    def record(self, movement: Movement, request: PaymentPayload) -> Recorded | Refused:
        idem = key(self.runtime, "ledger", "idem", hashlib.sha256(request.idempotency_key.encode()).hexdigest())
        payment, journal = self._keys(request.payment_id)
        args: list[str | int] = [
            movement,
            fingerprint(movement, request),
            request.payment_id,
            request.amount,
            request.currency,
            transaction_id(self.runtime.settings.namespace, request.idempotency_key),
            now_ms(),
        ]
        if self._replicated is None:
            reply = self._script(keys=[idem, payment, journal], args=args)
        else:
            reply = persist(lambda: self._record_replicated([idem, payment, journal], args), LEDGER_PERSIST_S)
        kind, *rest = [_text(v) for v in reply]
        if kind == "error":
            return Refused(rest[0], rest[1])
        fields = dict(zip(rest[::2], rest[1::2], strict=True))
        return Recorded(
            operation=fields["operation"],
            payment_id=fields["payment_id"],
            amount=int(fields["amount"]),
            currency=fields["currency"],
            transaction_id=fields["transaction_id"],
            at=int(fields["at"]),
            captured_total=int(fields["captured_total"]),
            refunded_total=int(fields["refunded_total"]),
            replayed=kind == "replay",
        )

    def _record_replicated(self, keys: list[str], args: list[str | int]) -> Any:
        """The ledger call followed by WAIT. Waited out here while replicas are missing (a failover:
        the old primary rejoins as a replica) rather than failing the job: the script is idempotent
        by key, and a failed job's re-enqueue is Dramatiq's own write, which WAIT does not cover."""
        assert self._replicated is not None
        call = ("EVALSHA", self._script.sha, len(keys), *keys, *args)
        with translate_errors(self.runtime.settings.display_url, secrets=self.runtime.settings.secrets()):
            return self._replicated.run("payment ledger entry", [call], {self._script.sha: self._source})[0]

    def state(self, payment_id: str) -> PaymentState:
        payment, journal = self._keys(payment_id)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hgetall(payment)
            pipe.lrange(journal, -JOURNAL_SHOWN, -1)
            totals, entries = pipe.execute()
        values = {_text(k): _text(v) for k, v in totals.items()}
        return PaymentState(
            payment_id,
            values.get("currency"),
            int(values.get("captured", 0)),
            int(values.get("refunded", 0)),
            int(values.get("captures", 0)),
            int(values.get("refunds", 0)),
            [_from_lua_journal(json.loads(e)) for e in entries],
        )


def ledger(runtime: Runtime | None = None) -> Ledger:
    """This runtime's ledger: shared through Redis in Redis mode, in process memory otherwise."""

    def build(rt: Runtime) -> Ledger:
        return RedisLedger(rt, rt.client) if rt.client is not None else MemoryLedger(rt)

    return per_runtime("ledger", build, runtime)


def _replayed(done: Recorded) -> Recorded:
    return Recorded(**{**done.__dict__, "replayed": True})


def _journal_entry(done: Recorded) -> dict[str, Any]:
    return {
        "operation": done.operation,
        "amount": done.amount,
        "currency": done.currency,
        "transaction_id": done.transaction_id,
        "at": done.at,
    }


def _from_lua_journal(entry: dict[str, Any]) -> dict[str, Any]:
    return {**entry, "amount": int(entry["amount"]), "at": int(entry["at"])}


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
