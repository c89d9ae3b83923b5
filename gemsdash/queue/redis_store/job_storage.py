"""Redis mode's job storage (see job_storage.py): the ledger is one ledger.lua call per movement,
a fact one SET NX; every Redis error comes out as BackendUnavailable."""

from __future__ import annotations

import hashlib
import json
from importlib.resources import files
from typing import Any

from gemsdash.queue.connection import Client, translate_errors
from gemsdash.queue.job_storage import JOURNAL_SHOWN, LedgerEntry, PaymentState, Recorded, Refused
from gemsdash.queue.jobs import now_ms
from gemsdash.queue.keys import Keys
from gemsdash.queue.middleware.persist import persist
from gemsdash.queue.redis_store.replication import Replicated

_LEDGER_SCRIPT = files("gemsdash.queue.redis_store").joinpath("ledger.lua").read_text(encoding="utf-8")
#: How long a payment job waits for GEMSDASH_MIN_REPLICAS replicas to hold its ledger entry.
LEDGER_PERSIST_S = 120.0


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisJobStorage:
    def __init__(
        self,
        client: Client,
        *,
        namespace: str,
        display_url: str,
        secrets: list[str],
        min_replicas: int = 0,
        replica_timeout_ms: int = 1000,
    ) -> None:
        self.client = client
        self.keys = Keys(namespace)
        self.display_url = display_url
        self._secrets = secrets
        self._script = client.register_script(_LEDGER_SCRIPT)
        #: With GEMSDASH_MIN_REPLICAS a movement counts as recorded once replicas hold it: a capture
        #: lost in a failover would be captured again when its job runs again.
        self._replicated = (
            Replicated(client, self.keys.anchor, min_replicas, replica_timeout_ms) if min_replicas else None
        )

    def _errors(self) -> Any:
        return translate_errors(self.display_url, secrets=self._secrets)

    def _ledger_keys(self, payment_id: str) -> tuple[str, str]:
        return self.keys.ledger_payment(payment_id), self.keys.ledger_journal(payment_id)

    def ledger_record(self, entry: LedgerEntry) -> Recorded | Refused:
        idem = self.keys.ledger_idem(hashlib.sha256(entry.idempotency_key.encode()).hexdigest())
        keys = [idem, *self._ledger_keys(entry.payment_id)]
        args: list[str | int] = [
            entry.movement,
            entry.fingerprint,
            entry.payment_id,
            entry.amount,
            entry.currency,
            entry.transaction_id,
            now_ms(),
        ]
        if self._replicated is None:
            with self._errors():
                reply = self._script(keys=keys, args=args)
        else:
            reply = persist(lambda: self._record_replicated(keys, args), LEDGER_PERSIST_S)
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
        with self._errors():
            return self._replicated.run("payment ledger entry", [call], {self._script.sha: _LEDGER_SCRIPT})[0]

    def ledger_state(self, payment_id: str) -> PaymentState:
        payment, journal = self._ledger_keys(payment_id)
        with self._errors(), self.client.pipeline(transaction=True) as pipe:
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
            [{**e, "amount": int(e["amount"]), "at": int(e["at"])} for e in map(json.loads, entries)],
        )

    def fact(self, kind: str, job_id: str) -> dict[str, Any] | None:
        with self._errors():
            raw = self.client.get(self.keys.fact(kind, job_id))
        return json.loads(raw) if raw else None

    def record_fact(self, kind: str, job_id: str, fact: dict[str, Any], ttl_s: int) -> None:
        data = json.dumps(fact, separators=(",", ":"))
        with self._errors():
            self.client.set(self.keys.fact(kind, job_id), data, nx=True, ex=ttl_s)
