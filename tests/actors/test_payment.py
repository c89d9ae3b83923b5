"""payment-processing through a real worker with the sandbox gateway and its ledger in the job-state
backend (Redis in Redis mode, process memory otherwise)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest

import gemsdash.queue as q
from gemsdash.queue import JobRecord, JobRequest, JobState, JobType, Priority, Runtime
from gemsdash.queue import context as job_context
from gemsdash.queue.handlers import actor_of
from tests.actors.waiting import finished
from tests.support import FAST_RETRY


def payment(operation: str, payment_id: str, amount: int = 2500, **changes: Any) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "operation": operation,
        "amount": amount,
        "currency": "EUR",
        "payment_method": "pm_card_visa",
        "idempotency_key": f"key-{uuid.uuid4().hex}",
        **changes,
    }


def run(payload: dict[str, Any], **options: Any) -> JobRecord:
    return finished(q.add_job("payment-processing", payload, **options))


def ok(payload: dict[str, Any]) -> dict[str, Any]:
    record = run(payload)
    assert record.state is JobState.SUCCEEDED, record.error
    result: dict[str, Any] = record.result
    return result


def verify(payment_id: str) -> dict[str, Any]:
    return ok(payment("verify", payment_id, amount=0))


def test_capture_refund_verify(any_runtime: Runtime) -> None:
    pid = f"pay_{uuid.uuid4().hex[:8]}"
    assert verify(pid)["status"] == "none"
    captured = ok(payment("capture", pid, 2500))
    assert captured["status"] == "captured"
    assert captured["captured_total"] == 2500 and captured["replayed"] is False
    assert captured["transaction_id"].startswith("txn_")
    refunded = ok(payment("refund", pid, 1000))
    assert refunded["status"] == "partially_refunded"
    assert refunded["refundable"] == 1500
    state = verify(pid)
    assert (state["captured_total"], state["refunded_total"], state["refundable"]) == (2500, 1000, 1500)
    assert (state["captures"], state["refunds"]) == (1, 1)
    assert [e["operation"] for e in state["journal"]] == ["capture", "refund"]
    assert [e["amount"] for e in state["journal"]] == [2500, 1000]


def test_payments_are_high_priority_by_default(memory_runtime: Runtime) -> None:
    record = run(payment("verify", "pay_prio", amount=0))
    assert record.priority is Priority.HIGH


def test_duplicate_and_concurrent_jobs_with_one_key_capture_once(any_runtime: Runtime) -> None:
    """Twelve jobs, three keys, enqueued at once and run by four worker threads at the same time."""
    pid = f"pay_{uuid.uuid4().hex[:8]}"
    keys = [f"order-{uuid.uuid4().hex}" for _ in range(3)]
    requests = [
        JobRequest("payment-processing", payment("capture", pid, 700, idempotency_key=keys[i % 3])) for i in range(12)
    ]
    records = [finished(job_id) for job_id in q.add_jobs(requests)]
    assert all(r.state is JobState.SUCCEEDED for r in records), [r.error for r in records]
    for key in keys:
        same_key = [r.result for r in records if r.payload["idempotency_key"] == key]
        assert len(same_key) == 4
        assert sum(not r["replayed"] for r in same_key) == 1, "exactly one of the duplicates moved money"
        assert len({r["transaction_id"] for r in same_key}) == 1
    state = verify(pid)
    assert state["captures"] == 3
    assert state["captured_total"] == 3 * 700
    assert len(state["journal"]) == 3


def test_a_redelivered_capture_moves_no_money_again(any_runtime: Runtime) -> None:
    """A worker killed after the capture, before acknowledging, gets the same message delivered
    again: replayed here by running the actor again in this thread under the same job id."""
    pid = f"pay_{uuid.uuid4().hex[:8]}"
    payload = payment("capture", pid, 4200)
    record = run(payload)
    assert record.state is JobState.SUCCEEDED, record.error
    job_context.enter(job_context.JobContext(record.id, JobType.PAYMENT_PROCESSING, 2, record.max_attempts))
    try:
        actor_of(JobType.PAYMENT_PROCESSING).fn(payload)
    finally:
        replay = job_context.leave()
    assert replay["replayed"] is True
    assert replay["transaction_id"] == record.result["transaction_id"]
    assert verify(pid)["captured_total"] == 4200


def test_declined_card_is_dead_at_once_with_the_reason(any_runtime: Runtime) -> None:
    pid = f"pay_{uuid.uuid4().hex[:8]}"
    record = run(payment("capture", pid, payment_method="pm_card_declined"), **FAST_RETRY)
    assert record.state is JobState.DEAD
    assert record.attempts == 1
    assert record.error is not None and record.error.type == "PaymentDeclined"
    assert "declined" in record.error.message
    assert [e.state for e in record.timeline].count(JobState.RETRYING) == 0
    assert verify(pid)["captured_total"] == 0


def test_unavailable_gateway_is_retried_with_backoff_then_dead(any_runtime: Runtime) -> None:
    pid = f"pay_{uuid.uuid4().hex[:8]}"
    record = run(payment("capture", pid, payment_method="pm_card_unavailable"), **FAST_RETRY)
    assert record.state is JobState.DEAD
    assert record.attempts == 3
    assert record.error is not None and record.error.type == "GatewayUnavailable"
    assert [e.state for e in record.timeline].count(JobState.RETRYING) == 2
    assert verify(pid)["captured_total"] == 0


def test_refund_never_exceeds_the_captured_amount(any_runtime: Runtime) -> None:
    pid = f"pay_{uuid.uuid4().hex[:8]}"
    ok(payment("capture", pid, 1000))
    ok(payment("refund", pid, 600))
    too_much = run(payment("refund", pid, 500), **FAST_RETRY)
    assert too_much.state is JobState.DEAD and too_much.attempts == 1
    assert too_much.error is not None and "400 left" in too_much.error.message
    never_captured = run(payment("refund", f"pay_{uuid.uuid4().hex[:8]}", 1), **FAST_RETRY)
    assert never_captured.state is JobState.DEAD
    assert ok(payment("refund", pid, 400))["status"] == "refunded"
    assert verify(pid)["refunded_total"] == 1000


def test_a_key_reused_for_another_request_or_currency_is_refused(any_runtime: Runtime) -> None:
    pid = f"pay_{uuid.uuid4().hex[:8]}"
    first = payment("capture", pid, 1000)
    ok(first)
    reused = run({**first, "amount": 9999}, **FAST_RETRY)
    assert reused.state is JobState.DEAD and reused.error is not None
    assert "idempotency_key" in reused.error.message
    other_currency = run(payment("capture", pid, 10, currency="USD"), **FAST_RETRY)
    assert other_currency.state is JobState.DEAD and other_currency.error is not None
    assert "EUR" in other_currency.error.message
    assert verify(pid)["captured_total"] == 1000


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": 12.5}, "amount"),
        ({"amount": "1250"}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"operation": "charge"}, "operation"),
        ({"payment_method": "4242 4242"}, "payment_method"),
    ],
)
def test_invalid_payments_are_refused_at_enqueue(memory_runtime: Runtime, changes: dict[str, Any], field: str) -> None:
    with pytest.raises(q.InvalidPayload) as caught:
        q.add_job("payment-processing", {**payment("capture", "pay_x"), **changes})
    assert field in str(caught.value)
    assert q.list_jobs("payment-processing").total == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"payment_method": "pm_4242424242424242"},
        {"payment_id": "order 4111-1111-1111-1111"},
        {"idempotency_key": "5555555555554444"},
        {"payment_id": "378282246310005"},
    ],
)
def test_raw_card_numbers_are_refused_and_never_stored_or_logged(
    any_runtime: Runtime, changes: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    digits = "".join(ch for ch in next(iter(changes.values())) if ch.isdigit())
    with pytest.raises(q.InvalidPayload) as caught:
        q.add_job("payment-processing", {**payment("capture", "pay_card"), **changes})
    assert "card number" in str(caught.value)
    assert digits not in str(caught.value)
    assert q.list_jobs("payment-processing").total == 0
    assert digits not in caplog.text
    if any_runtime.client is not None:
        for key in any_runtime.client.scan_iter(match=f"{any_runtime.settings.namespace}:*"):
            value = any_runtime.client.dump(key) or b""
            assert digits.encode() not in value, key
