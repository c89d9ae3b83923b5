"""Well-formed messages pushed straight into a Redis queue that gemsdash could not have written:
forged retry counts, an actor of another queue, a 10-year eta, options that make a worker do more
than run the job. Each ends `dead` at fetch with the reason, runs nothing, and waits in no worker's
memory; messages gemsdash writes (longest delay, most attempts) still run."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from gemsdash.queue import JobState, JobType, Runtime, add_job, get_job, queue_stats
from gemsdash.queue.admission import inspect_fetched
from gemsdash.queue.jobs import MAX_ATTEMPTS, MAX_DELAY_MS, now_ms
from tests.core.workload import email, scripted
from tests.faults.test_malformed import push
from tests.security.helpers import run_cli
from tests.support import raw, text, wait_for, wait_for_job

EMAIL_QUEUE = "email-notification"
PAYMENT = {
    "payment_id": "pay_1",
    "operation": "capture",
    "amount": 500,
    "currency": "USD",
    "payment_method": "pm_card_visa",
    "idempotency_key": "k-1",
}
TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000


def message(queue: str = EMAIL_QUEUE, actor: str = "email_notification", **options: Any) -> dict[str, Any]:
    """A message as Dramatiq's own enqueue writes it, with `options` added."""
    return {
        "queue_name": queue,
        "actor_name": actor,
        "args": [PAYMENT if actor == "payment_processing" else email("forged")],
        "kwargs": {},
        "options": {"redis_message_id": "set-by-push", **options},
        "message_id": str(uuid.uuid4()),
        "message_timestamp": now_ms(),
    }


def push_message(client: redis.Redis, ns: str, fields: dict[str, Any]) -> str:
    rmid = str(uuid.uuid4())
    fields["options"]["redis_message_id"] = rmid
    return push(client, ns, fields["queue_name"], json.dumps(fields).encode(), rmid)


def refused(rmid: str) -> str:
    record = wait_for(lambda: get_job(rmid), timeout=30, what="the refused message's dead record")
    assert record.state is JobState.DEAD and record.error is not None, record
    assert record.attempts == 0 and record.max_attempts == 1
    return f"{record.error.type}: {record.error.message}"


FORGED: dict[str, tuple[dict[str, Any], str]] = {
    "negative retries, huge max_retries": (
        {"retries": -5, "max_retries": 1e12},
        "option 'max_retries' is not an integer",
    ),
    "negative retries": ({"retries": -5, "max_retries": 3}, "retries is negative or above max_retries"),
    "retries past max_retries": ({"retries": 9, "max_retries": 3}, "retries is negative or above max_retries"),
    "max_retries above the bound": ({"max_retries": 10**12}, f"max_retries is outside 0..{MAX_ATTEMPTS - 1}"),
    "boolean retries": ({"retries": True}, "option 'retries' is not an integer"),
    "a pipeline target": ({"pipe_target": {"actor_name": "payment_processing"}}, "option 'pipe_target' is not one"),
    "a success callback": ({"on_success": "payment_processing"}, "option 'on_success' is not one"),
    "no time limit": ({"time_limit": 10**9}, "option 'time_limit' is not one"),
    "zero backoff": ({"min_backoff": 0}, "min_backoff is outside"),
    "negative eta": ({"eta": -1}, "eta is negative"),
}


@pytest.fixture
def worker(redis_runtime: Runtime) -> Runtime:
    redis_runtime.start_worker(threads=2)
    return redis_runtime


@pytest.mark.parametrize("name", list(FORGED))
def test_forged_options_end_dead_with_the_reason_and_never_run(
    worker: Runtime, redis_client: redis.Redis, name: str
) -> None:
    options, reason = FORGED[name]
    with scripted() as work:
        rmid = push_message(redis_client, worker.settings.namespace, message(**options))
        error = refused(rmid)
    assert error.startswith("InvalidMessage: invalid message: ") and reason in error, error
    assert work.started == []
    ns = worker.settings.namespace
    assert redis_client.zscore(f"{ns}:{EMAIL_QUEUE}.XQ", rmid) is not None
    assert redis_client.hlen(f"{ns}:{EMAIL_QUEUE}.msgs") == 0


def test_forged_attempts_are_never_shown(
    worker: Runtime, redis_client: redis.Redis, cli_env: dict[str, str], tmp_path: Path
) -> None:
    rmid = push_message(redis_client, worker.settings.namespace, message(retries=-5, max_retries=10**12))
    refused(rmid)
    shown = run_cli("job", rmid, env=cli_env, cwd=tmp_path)
    assert shown.returncode == 0 and "retries is negative or above max_retries" not in shown.stdout
    assert "attempts: 0/1" in shown.stdout and "-4/" not in shown.stdout, shown.stdout
    assert "max_retries is outside" in shown.stdout


def test_a_payment_pushed_to_the_email_queue_never_runs(worker: Runtime, redis_client: redis.Redis) -> None:
    forged = message(actor="payment_processing")
    with scripted(JobType.EMAIL_NOTIFICATION, JobType.PAYMENT_PROCESSING) as work:
        rmid = push_message(redis_client, worker.settings.namespace, forged)
        error = refused(rmid)
    assert "actor 'payment_processing' does not belong on queue 'email-notification'" in error
    assert work.started == []
    assert get_job(forged["message_id"]) is None  # no email (nor payment) job was recorded as run


def test_a_refused_message_is_kept_scrubbed(worker: Runtime, redis_client: redis.Redis) -> None:
    """What is kept of it is what is kept of a malformed one: masked by key, card numbers blanked."""
    forged = message(on_failure="payment_processing")
    forged["args"][0]["context"] |= {"password": "pw-Secret-1a2b", "note": "4242 4242 4242 4242"}
    rmid = push_message(redis_client, worker.settings.namespace, forged)
    refused(rmid)
    record = get_job(rmid)
    assert record is not None
    kept = json.dumps(record.public_dict())
    dead_letter = redis_client.hget(f"{worker.settings.namespace}:{EMAIL_QUEUE}.XQ.msgs", rmid)
    for shown in (kept, text(dead_letter or b"")):
        assert "pw-Secret-1a2b" not in shown and "4242 4242" not in shown and "on_failure" in shown


def test_a_message_naming_another_queue_is_refused(worker: Runtime, redis_client: redis.Redis) -> None:
    forged = message(queue="payment-processing")
    ns = worker.settings.namespace
    rmid = str(uuid.uuid4())
    forged["options"]["redis_message_id"] = rmid
    push(redis_client, ns, EMAIL_QUEUE, json.dumps(forged).encode(), rmid)
    assert "names queue 'payment-processing' but waits in 'email-notification'" in refused(rmid)


def test_a_ten_year_eta_is_dead_not_held_in_memory(worker: Runtime, redis_client: redis.Redis) -> None:
    ns = worker.settings.namespace
    forged = message(queue=f"{EMAIL_QUEUE}.DQ", eta=now_ms() + TEN_YEARS_MS)
    rmid = push_message(redis_client, ns, forged)
    assert "eta is more than" in refused(rmid)
    # Nothing left in the delay queue nor in any worker's ack set (which is where a held one sits).
    assert redis_client.hlen(f"{ns}:{EMAIL_QUEUE}.DQ.msgs") == 0
    acks = list(redis_client.scan_iter(match=f"{ns}:__acks__.*"))
    assert all(redis_client.scard(k) == 0 for k in acks)


@pytest.mark.parametrize("recorded", [True, False], ids=["with-record", "message-alone"])
def test_a_tampered_message_of_a_real_job_kills_that_job(
    redis_runtime: Runtime, redis_client: redis.Redis, recorded: bool
) -> None:
    """The record of the job whose message was changed says why it died; it does not stay queued.
    A job with a record while it waits (its retries wait no time) keeps its payload; one that waited
    as its message alone had no other copy of it, so its record keeps what was refused instead."""
    job_id = add_job(JobType.EMAIL_NOTIFICATION, email("real"), backoff={"delay": 0} if recorded else None)
    ns = redis_runtime.settings.namespace
    key = f"{ns}:{EMAIL_QUEUE}.msgs"
    (rmid,) = redis_client.hkeys(key)
    fields = json.loads(redis_client.hget(key, rmid))  # type: ignore[arg-type]
    fields["options"]["on_success"] = "payment_processing"
    redis_client.hset(key, rmid, json.dumps(fields))
    with scripted() as work:
        redis_runtime.start_worker(threads=2)
        record = wait_for(
            lambda: (r := get_job(job_id)) is not None and r.state is JobState.DEAD and r, timeout=30, what="dead"
        )
    assert record.error is not None and "option 'on_success' is not one gemsdash sets" in record.error.message
    assert work.started == []
    if recorded:
        assert record.payload["context"] == {"name": "real"}
    else:
        assert "refused_message" in record.payload
    counts = queue_stats().queues[EMAIL_QUEUE].counts
    assert counts[JobState.QUEUED] == 0 and counts[JobState.DEAD] == 1


def test_messages_gemsdash_writes_are_admitted(redis_runtime: Runtime, redis_client: redis.Redis) -> None:
    """The bounds are the producer's own: the longest delay and the most attempts pass, and run."""
    ns = redis_runtime.settings.namespace
    delayed = add_job(JobType.EMAIL_NOTIFICATION, email("late"), delay=MAX_DELAY_MS, attempts=MAX_ATTEMPTS)
    (data,) = redis_client.hvals(f"{ns}:{EMAIL_QUEUE}.DQ.msgs")
    assert inspect_fetched(raw(data), f"{EMAIL_QUEUE}.DQ", now_ms()) is None, delayed
    with scripted() as work:
        redis_runtime.start_worker(threads=2)
        job_id = add_job(
            JobType.EMAIL_NOTIFICATION, email("fail-then"), attempts=2, backoff={"type": "fixed", "delay": 10}
        )
        wait_for(lambda: get_job(job_id).state is JobState.DEAD, timeout=30, what="two attempts")  # type: ignore[union-attr]
        record = get_job(job_id)
        assert record is not None and record.attempts == 2 and record.error is not None
        assert record.error.type == "RuntimeError", record.error  # its retry was admitted and ran
        time.sleep(0.2)
    assert work.started.count("fail-then") == 2
    assert get_job(delayed).state is JobState.DELAYED  # type: ignore[union-attr]


def test_a_backoff_jitter_option_is_admitted_only_as_a_fraction(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    """Operator's `--backoff-jitter` puts `jitter` in the message: admitted when the producer wrote
    it (0..1), refused with the reason when forged outside that range or not a number."""
    ns = redis_runtime.settings.namespace
    add_job(JobType.EMAIL_NOTIFICATION, email("jittered"), backoff={"type": "fixed", "delay": 10, "jitter": 0.5})
    (rmid,) = redis_client.lrange(f"{ns}:{EMAIL_QUEUE}", 0, -1)
    data = redis_client.hget(f"{ns}:{EMAIL_QUEUE}.msgs", rmid)
    assert data is not None and json.loads(data)["options"]["jitter"] == 0.5
    assert inspect_fetched(raw(data), EMAIL_QUEUE, now_ms()) is None
    for forged in (5, -0.1, "0.5", True):
        message = json.loads(data)
        message["options"]["jitter"] = forged
        refusal = inspect_fetched(json.dumps(message).encode(), EMAIL_QUEUE, now_ms())
        assert refusal is not None and "option 'jitter' is not a number in 0..1" in refusal.reason, forged


@pytest.mark.parametrize(
    "option", ["pipe_target", "on_success", "on_failure", "max_age", "time_limit", "notify_shutdown"]
)
def test_memory_mode_refuses_an_option_gemsdash_never_writes_when_it_is_sent(
    memory_runtime: Runtime, option: str
) -> None:
    """No worker of either mode runs Dramatiq's middleware for these options (runtime.py): on Redis
    the worker refuses such a message at fetch, and in memory mode the sender is told at once."""
    from gemsdash.queue.errors import InvalidPayload
    from gemsdash.queue.handlers import actor_of

    actor = actor_of(JobType.EMAIL_NOTIFICATION)
    with scripted() as work:
        with pytest.raises(InvalidPayload, match=f"options.'{option}': not an option gemsdash runs"):
            options: dict[str, Any] = {option: "payment_processing"}
            actor.send_with_options(args=(email("forged"),), **options)
        sent = actor.send(email("plain"))
        wait_for_job(sent.message_id, lambda r: r.state is JobState.SUCCEEDED)
    assert len(work.started) == 1
    assert queue_stats().queues[EMAIL_QUEUE].counts[JobState.QUEUED] == 0
