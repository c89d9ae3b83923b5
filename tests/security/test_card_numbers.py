"""Raw card numbers are refused wherever a payload enters (the Python API and its helpers, a batch,
`gemsdash enqueue --payload`, `POST /queue/jobs/{type}`), the refusal names the field and never
the digits, and the digits are then nowhere: not in any Redis value of the namespace, not in a log."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import gemsdash.queue as q
from gemsdash import cli
from gemsdash.queue import InvalidPayload, JobRequest, JobState, JobType, Runtime
from tests.http.conftest import AUTH, TOKEN, http_settings, live_server
from tests.security.helpers import namespace_dump, one_line_error, run_cli
from tests.support import wait_for

VISA, MASTERCARD, AMEX = "4111111111111111", "5555555555554444", "378282246310005"
#: The same numbers as people type them.
WRITTEN = {
    "plain": VISA,
    "spaced": "4111 1111 1111 1111",
    "dashed": "5555-5555-5555-4444",
    "amex": "3782 822463 10005",
    "in-a-sentence": f"charge {MASTERCARD} please",
}
ALL_DIGITS = (VISA, MASTERCARD, AMEX)


def good_payload(job_type: JobType) -> dict[str, Any]:
    payloads: dict[JobType, dict[str, Any]] = {
        JobType.SKETCH_GENERATION: {"prompt": "a lighthouse", "user_id": "u1"},
        JobType.EMOTION_ANALYSIS: {"text": "happy", "analysis_type": "text", "user_id": "u1"},
        JobType.EMAIL_NOTIFICATION: {"to": "ann@example.test", "template": "welcome", "context": {"name": "Ann"}},
        JobType.PAYMENT_PROCESSING: {
            "payment_id": "pay_1",
            "operation": "capture",
            "amount": 1999,
            "currency": "EUR",
            "payment_method": "pm_card_visa",
            "idempotency_key": "k1",
        },
    }
    return payloads[job_type]


#: Where a card number could be slipped into each job type: (field path, payload with it there).
def with_card(job_type: JobType, card: str) -> list[tuple[str, dict[str, Any]]]:
    base = good_payload(job_type)
    spots: list[tuple[str, dict[str, Any]]] = [("user_id", {**base, "user_id": card})]
    if job_type is JobType.SKETCH_GENERATION:
        spots.append(("prompt", {**base, "prompt": card}))
    elif job_type is JobType.EMOTION_ANALYSIS:
        spots.append(("text", {**base, "text": card}))
    elif job_type is JobType.EMAIL_NOTIFICATION:
        spots.append(("context.name", {**base, "context": {"name": card}}))
        spots.append(("context.card", {**base, "context": {"name": "Ann", "card": card}}))
    else:
        spots.append(("payment_method", {**base, "payment_method": card}))
        spots.append(("payment_id", {**base, "payment_id": card}))
    return spots


def digits_only(text: str) -> str:
    return re.sub(r"[\s-]", "", text)


def assert_names_field_not_digits(text: str, field: str) -> None:
    assert field in text, text
    assert not any(d in digits_only(text) for d in ALL_DIGITS), f"card digits echoed in: {text}"


@pytest.fixture
def card_free(
    redis_runtime: Runtime, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> Callable[[], None]:
    """A check that the card digits are in no Redis value of the namespace and no log record."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="dramatiq")

    def check() -> None:
        stored = digits_only(namespace_dump(redis_client, redis_runtime.settings.namespace))
        logged = digits_only(caplog.text)
        for number in ALL_DIGITS:
            assert number not in stored, "card number stored in Redis"
            assert number not in logged, "card number logged"

    return check


@pytest.fixture
def nowhere(card_free: Callable[[], None]) -> Iterator[None]:
    """The check, run when the test is over."""
    yield
    card_free()


# -- the Python API -------------------------------------------------------------------------------


@pytest.mark.parametrize("job_type", list(JobType), ids=[t.value for t in JobType])
@pytest.mark.parametrize("written", list(WRITTEN), ids=list(WRITTEN))
def test_add_job_refuses_a_card_number_in_any_field(job_type: JobType, written: str, nowhere: None) -> None:
    for field, payload in with_card(job_type, WRITTEN[written]):
        with pytest.raises(InvalidPayload) as caught:
            q.add_job(job_type, payload)
        assert [f for f, _ in caught.value.errors] == [field]
        assert_names_field_not_digits(str(caught.value), field)
    assert sum(s.counts[JobState.QUEUED] for s in q.queue_stats().queues.values()) == 0


@pytest.mark.parametrize(
    "identifier",
    [
        f"key-a{VISA}f",  # a uuid4 hex can hold a Luhn-valid run of digits between its letters
        "41111111-1111-1111-1111-111111111111",  # a dashed uuid made of digits only: not card groups
        f"pay_{AMEX}x",
    ],
)
def test_a_digit_run_inside_an_identifier_is_not_a_card_number(identifier: str, idle_memory_runtime: Runtime) -> None:
    payload = {**good_payload(JobType.PAYMENT_PROCESSING), "idempotency_key": identifier}
    job_id = q.add_job(JobType.PAYMENT_PROCESSING, payload)
    record = q.get_job(job_id)
    assert record is not None and record.payload["idempotency_key"] == identifier


def test_a_card_number_as_a_json_integer_is_refused(nowhere: None) -> None:
    payload = {**good_payload(JobType.EMAIL_NOTIFICATION), "context": {"name": "Ann", "ref": int(VISA)}}
    with pytest.raises(InvalidPayload, match=r"context\.ref: looks like a raw card number"):
        q.add_job(JobType.EMAIL_NOTIFICATION, payload)


def test_payment_methods_that_are_tokens_are_accepted(nowhere: None) -> None:
    """Not a blanket ban on digits: tokens, amounts and order numbers pass."""
    payload = {**good_payload(JobType.PAYMENT_PROCESSING), "payment_method": "pm_1234567890", "amount": 411111111111}
    assert q.add_job(JobType.PAYMENT_PROCESSING, payload)


@pytest.mark.parametrize(
    "helper",
    [
        lambda: q.process_payment(
            payment_id="pay_1",
            operation="capture",
            amount=100,
            currency="EUR",
            payment_method=WRITTEN["spaced"],
            idempotency_key="k",
        ),
        lambda: q.send_email("ann@example.test", "welcome", {"name": WRITTEN["dashed"]}),
        lambda: q.send_welcome_email("ann@example.test", WRITTEN["plain"]),
        lambda: q.queue_sketch_generation(WRITTEN["in-a-sentence"], user_id="u1"),
        lambda: q.analyze_emotion(user_id="u1", text=WRITTEN["amex"]),
    ],
    ids=["process_payment", "send_email", "send_welcome_email", "queue_sketch_generation", "analyze_emotion"],
)
def test_every_helper_refuses_a_card_number(helper: Callable[[], str], nowhere: None) -> None:
    with pytest.raises(InvalidPayload, match="looks like a raw card number") as caught:
        helper()
    assert_names_field_not_digits(str(caught.value), caught.value.errors[0][0])


def test_a_batch_with_one_card_number_writes_nothing(redis_runtime: Runtime, nowhere: None) -> None:
    requests = [JobRequest(t, good_payload(t)) for t in JobType]
    requests.append(JobRequest(JobType.PAYMENT_PROCESSING, with_card(JobType.PAYMENT_PROCESSING, VISA)[1][1]))
    with pytest.raises(InvalidPayload) as caught:
        q.add_jobs(requests)
    assert_names_field_not_digits(str(caught.value), "payment_method")
    snapshot = q.queue_stats()
    assert all(sum(s.counts.values()) == 0 for s in snapshot.queues.values())


# -- the CLI ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("job_type", list(JobType), ids=[t.value for t in JobType])
def test_cli_enqueue_refuses_a_card_number(
    job_type: JobType, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], nowhere: None
) -> None:
    for field, payload in with_card(job_type, WRITTEN["spaced"]):
        code = cli.main(["enqueue", job_type.value, "--payload", json.dumps(payload)])
        out, err = capsys.readouterr()
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1
        assert_names_field_not_digits(err, field)


def test_cli_enqueue_refuses_a_card_number_in_a_real_process(
    cli_env: dict[str, str], tmp_path: Path, nowhere: None
) -> None:
    payload = json.dumps(with_card(JobType.PAYMENT_PROCESSING, VISA)[1][1])
    run = run_cli("enqueue", "payment-processing", "--payload", payload, env=cli_env, cwd=tmp_path)
    assert_names_field_not_digits(one_line_error(run), "payment_method")


# -- the HTTP API ---------------------------------------------------------------------------------


def test_http_enqueue_refuses_a_card_number(redis_runtime: Runtime, nowhere: None) -> None:
    with live_server(http_settings(admin_token=TOKEN)) as client:
        for job_type in JobType:
            for field, payload in with_card(job_type, WRITTEN["dashed"]):
                answer = client.post(f"/queue/jobs/{job_type.value}", json={"payload": payload}, headers=AUTH)
                assert answer.status_code == 422, answer.text
                assert [e["field"] for e in answer.json()["errors"]] == [field]
                assert_names_field_not_digits(answer.text, field)


# -- known gaps -----------------------------------------------------------------------------------


def test_a_card_number_as_a_json_float_is_never_stored(card_free: Callable[[], None]) -> None:
    payload = {**good_payload(JobType.EMAIL_NOTIFICATION), "context": {"name": "Ann", "ref": float(VISA)}}
    with contextlib.suppress(InvalidPayload):
        q.add_job(JobType.EMAIL_NOTIFICATION, payload)
    card_free()


def test_a_card_number_as_a_context_key_is_never_stored(card_free: Callable[[], None]) -> None:
    payload = {**good_payload(JobType.EMAIL_NOTIFICATION), "context": {"name": "Ann", VISA: "x"}}
    with contextlib.suppress(InvalidPayload):
        q.add_job(JobType.EMAIL_NOTIFICATION, payload)
    card_free()


def test_a_card_number_sent_straight_to_the_actor_is_not_kept(
    redis_runtime: Runtime, card_free: Callable[[], None]
) -> None:
    from gemsdash.queue.handlers import actor_of

    message = actor_of(JobType.EMAIL_NOTIFICATION).send(
        {**good_payload(JobType.EMAIL_NOTIFICATION), "context": {"name": VISA}}
    )
    redis_runtime.start_worker(threads=2)
    record = wait_for(
        lambda: (r := q.get_job(message.message_id)) is not None and r.state is JobState.DEAD and r, what="dead"
    )
    assert record.error is not None and "context.name: looks like a raw card number" in record.error.message
    card_free()
