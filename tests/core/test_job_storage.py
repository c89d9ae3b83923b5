"""The job storage's contract (gemsdash.queue.job_storage), run against both modes: the payment
ledger and the job facts (the email send log) behave the same in memory and in Redis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis

from gemsdash.queue.job_storage import JobStorage, LedgerEntry, MemoryJobStorage, Recorded, Refused
from gemsdash.queue.redis_store.job_storage import RedisJobStorage

CAPTURE = LedgerEntry("capture", "pay_1", 1000, "EUR", "key-1", "fp-capture-1000", "txn_1")


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest, namespace: str) -> Iterator[JobStorage]:
    if request.param == "memory":
        yield MemoryJobStorage()
        return
    client: redis.Redis = request.getfixturevalue("redis_client")
    yield RedisJobStorage(client, namespace=namespace, display_url="redis://127.0.0.1:6379/0", secrets=[])
    for key in client.scan_iter(match=f"{namespace}:*"):
        client.delete(key)


def entry(key: str, movement: str = "refund", amount: int = 400, currency: str = "EUR") -> LedgerEntry:
    return replace(
        CAPTURE,
        movement=movement,  # type: ignore[arg-type]
        amount=amount,
        currency=currency,
        idempotency_key=key,
        fingerprint=f"fp-{movement}-{amount}-{currency}",
        transaction_id=f"txn_{key}",
    )


def test_a_capture_is_recorded_once_and_replayed_after(storage: JobStorage) -> None:
    first = storage.ledger_record(CAPTURE)
    again = storage.ledger_record(CAPTURE)
    assert isinstance(first, Recorded) and isinstance(again, Recorded)
    assert (first.operation, first.amount, first.currency, first.transaction_id) == ("capture", 1000, "EUR", "txn_1")
    assert (first.captured_total, first.refunded_total, first.replayed) == (1000, 0, False)
    assert again == replace(first, replayed=True)
    state = storage.ledger_state("pay_1")
    assert (state.currency, state.captured, state.refunded, state.captures, state.refunds) == ("EUR", 1000, 0, 1, 0)
    assert state.journal == [
        {"operation": "capture", "amount": 1000, "currency": "EUR", "transaction_id": "txn_1", "at": first.at}
    ]


def test_the_ledger_refuses_the_same_things(storage: JobStorage) -> None:
    storage.ledger_record(CAPTURE)
    assert storage.ledger_record(replace(CAPTURE, fingerprint="other")) == Refused("key_reused", "capture")
    assert storage.ledger_record(entry("k2", "capture", currency="USD")) == Refused("currency_mismatch", "EUR")
    assert storage.ledger_record(entry("k3", amount=1001)) == Refused("refund_exceeds", "1000")
    refund = storage.ledger_record(entry("k4", amount=400))
    assert isinstance(refund, Recorded) and (refund.captured_total, refund.refunded_total) == (1000, 400)
    assert storage.ledger_record(entry("k5", amount=601)) == Refused("refund_exceeds", "600")
    state = storage.ledger_state("pay_1")
    assert (state.captured, state.refunded, state.captures, state.refunds) == (1000, 400, 1, 1)
    assert [e["operation"] for e in state.journal] == ["capture", "refund"]


def test_amounts_stay_exact_past_what_a_float_holds(storage: JobStorage) -> None:
    big = 2**62
    storage.ledger_record(replace(CAPTURE, amount=big))
    done = storage.ledger_record(entry("k2", amount=big - 1))
    assert isinstance(done, Recorded) and done.refunded_total == big - 1
    assert storage.ledger_state("pay_1").journal[-1]["amount"] == big - 1


def test_an_unknown_payment_has_an_empty_state(storage: JobStorage) -> None:
    state = storage.ledger_state("pay_none")
    assert (state.payment_id, state.currency, state.captured, state.journal) == ("pay_none", None, 0, [])


def test_a_jobs_first_fact_wins_and_kinds_are_apart(storage: JobStorage) -> None:
    assert storage.fact("email:sent", "J1") is None
    storage.record_fact("email:sent", "J1", {"message_id": "<a>"}, 60)
    storage.record_fact("email:sent", "J1", {"message_id": "<b>"}, 60)
    assert storage.fact("email:sent", "J1") == {"message_id": "<a>"}
    assert storage.fact("email:sent", "J2") is None
    assert storage.fact("other", "J1") is None
