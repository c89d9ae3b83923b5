"""Every state a job can be in, reached through the real broker and worker, in both modes."""

from __future__ import annotations

import time

import pytest

from gemsdash.queue import (
    InvalidPayload,
    JobState,
    JobType,
    Runtime,
    add_job,
    add_jobs,
    get_job,
    list_jobs,
    queue_stats,
    retry,
)
from gemsdash.queue.producer import JobRequest
from gemsdash.queue.stub_broker import DEAD_LETTERS_KEPT
from tests.core.workload import email, scripted
from tests.support import FAST_RETRY, state_of, wait_for


def test_a_job_succeeds_and_its_record_tells_the_story(any_runtime: Runtime) -> None:
    with scripted():
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("ok"))
        wait_for(lambda: state_of(job_id) is JobState.SUCCEEDED, what="success")
    record = get_job(job_id)
    assert record is not None
    assert record.result == {"name": "ok"}
    assert record.attempts == 1 and record.max_attempts == 5
    assert record.queue == "email-notification" and record.priority.value == "normal"
    assert record.started_at and record.finished_at and record.created_at <= record.started_at <= record.finished_at
    assert record.duration_ms is not None and record.duration_ms >= 0
    assert record.worker and ":" in record.worker
    assert [e.state for e in record.timeline] == [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED]
    assert record.error is None


def test_failures_retry_with_backoff_then_go_dead_with_the_traceback(any_runtime: Runtime) -> None:
    with scripted():
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("fail-always"), **FAST_RETRY)
        wait_for(lambda: state_of(job_id) is JobState.DEAD, what="dead")
    record = get_job(job_id)
    assert record is not None and record.error is not None
    assert record.attempts == 3
    assert record.error.type == "RuntimeError"
    assert "transient failure for fail-always" in record.error.message
    assert "Traceback" in (record.error.traceback or "") and "transient failure" in (record.error.traceback or "")
    states = [e.state for e in record.timeline]
    assert states.count(JobState.RETRYING) == 2
    assert states[-1] is JobState.DEAD


def test_a_retrying_job_shows_when_it_will_run_again(any_runtime: Runtime) -> None:
    with scripted():
        job_id = add_job(
            JobType.EMAIL_NOTIFICATION, email("fail-slow"), attempts=2, backoff={"type": "fixed", "delay": 3000}
        )
        wait_for(lambda: state_of(job_id) is JobState.RETRYING, what="retrying")
        record = get_job(job_id)
        assert record is not None and record.next_attempt_at is not None
        assert record.next_attempt_at > record.started_at  # type: ignore[operator]
        assert queue_stats().queues["email-notification"].counts[JobState.RETRYING] == 1


def test_a_permanent_error_goes_dead_without_retries(any_runtime: Runtime) -> None:
    with scripted() as work:
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("fatal"), **FAST_RETRY)
        wait_for(lambda: state_of(job_id) is JobState.DEAD, what="dead")
    record = get_job(job_id)
    assert record is not None and record.attempts == 1
    assert work.started == ["fatal"]
    assert record.error is not None and record.error.type == "PermanentJobError"


def test_memory_mode_keeps_dead_jobs_in_records_not_in_the_broker(memory_runtime: Runtime) -> None:
    """Dramatiq's StubBroker keeps every dead letter forever; the records keep them until their TTL."""
    count = DEAD_LETTERS_KEPT + 20
    with scripted() as work:
        ids = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"fatal-{i}")) for i in range(count)])
        wait_for(lambda: queue_stats().queues["email-notification"].counts[JobState.DEAD] == count, what="all dead")
        assert len(memory_runtime.broker.dead_letters) == DEAD_LETTERS_KEPT  # type: ignore[attr-defined]
        retry(ids[0])  # its dead letter is gone from the broker; the record is enough
        wait_for(lambda: work.started.count("fatal-0") == 2, what="the oldest dead job ran again")


def test_delayed_jobs_wait_then_run(any_runtime: Runtime) -> None:
    with scripted():
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("ok"), delay=600)
        record = get_job(job_id)
        assert record is not None and record.state is JobState.DELAYED and record.next_attempt_at is not None
        assert queue_stats().queues["email-notification"].counts[JobState.DELAYED] == 1
        wait_for(lambda: state_of(job_id) is JobState.SUCCEEDED, what="success")
    record = get_job(job_id)
    assert record is not None and record.started_at is not None
    assert (record.started_at - record.created_at).total_seconds() >= 0.5
    assert [e.state for e in record.timeline][:2] == [JobState.DELAYED, JobState.QUEUED]


def test_running_jobs_are_counted_as_running(any_runtime: Runtime) -> None:
    with scripted() as work:
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("block"))
        work.blocking.wait(10)
        wait_for(lambda: state_of(job_id) is JobState.RUNNING, what="running")
        assert queue_stats().queues["email-notification"].counts[JobState.RUNNING] == 1
        work.release.set()
        wait_for(lambda: state_of(job_id) is JobState.SUCCEEDED, what="success")


def test_time_limit_is_enforced_in_both_modes(any_runtime: Runtime) -> None:
    actor = any_runtime.broker.get_actor("email_notification")
    previous = actor.options["time_limit"]
    actor.options["time_limit"] = 300

    def busy(payload: object) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.01)

    from gemsdash.queue.handlers import override_work

    try:
        with override_work(JobType.EMAIL_NOTIFICATION, busy):
            job_id = add_job(JobType.EMAIL_NOTIFICATION, email("slow"), attempts=1)
            wait_for(lambda: state_of(job_id) is JobState.DEAD, timeout=8, what="time limit")
    finally:
        actor.options["time_limit"] = previous
    record = get_job(job_id)
    assert record is not None and record.error is not None
    assert record.error.type == "TimeLimitExceeded"
    assert record.duration_ms is not None and record.duration_ms < 5000


@pytest.mark.parametrize(
    ("job_type", "payload", "field"),
    [
        (JobType.SKETCH_GENERATION, {"prompt": "", "style": "cartoon", "quality": "low", "user_id": "u"}, "prompt"),
        (JobType.SKETCH_GENERATION, {"prompt": "a cat", "style": "oil", "quality": "low", "user_id": "u"}, "style"),
        (JobType.SKETCH_GENERATION, {"prompt": "a cat", "quality": "low", "user_id": "u", "colour": "red"}, "colour"),
        (JobType.EMOTION_ANALYSIS, {"analysis_type": "text", "user_id": "u"}, "text"),
        (
            JobType.EMOTION_ANALYSIS,
            {"analysis_type": "text", "text": "hi", "image_path": "/x.png", "user_id": "u"},
            "image_path",
        ),
        (JobType.EMAIL_NOTIFICATION, {"to": "not-an-address", "template": "welcome", "context": {"name": "A"}}, "to"),
        (JobType.EMAIL_NOTIFICATION, {"to": "a@b.co", "template": "nope", "context": {}}, "template"),
        (JobType.EMAIL_NOTIFICATION, {"to": "a@b.co", "template": "welcome", "context": {}}, "context"),
        (
            JobType.PAYMENT_PROCESSING,
            {
                "payment_id": "p1",
                "operation": "capture",
                "amount": 10.5,
                "currency": "USD",
                "payment_method": "pm_card_visa",
                "idempotency_key": "k",
            },
            "amount",
        ),
        (
            JobType.PAYMENT_PROCESSING,
            {
                "payment_id": "p1",
                "operation": "capture",
                "amount": 1000,
                "currency": "XYZ",
                "payment_method": "pm_card_visa",
                "idempotency_key": "k",
            },
            "currency",
        ),
        (
            JobType.PAYMENT_PROCESSING,
            {
                "payment_id": "p1",
                "operation": "capture",
                "amount": 1000,
                "currency": "USD",
                "payment_method": "pm_card_visa",
                "idempotency_key": "4111 1111 1111 1111",
            },
            "idempotency_key",
        ),
    ],
)
def test_invalid_payloads_are_refused_naming_the_field_and_nothing_is_written(
    any_runtime: Runtime, job_type: JobType, payload: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidPayload) as caught:
        add_job(job_type, payload)
    assert field in [f for f, _ in caught.value.errors]
    assert "4111" not in str(caught.value)
    assert queue_stats().queues[job_type.queue].counts == dict.fromkeys(JobState, 0)
    assert list_jobs(job_type.queue).total == 0


def test_invalid_options_are_refused_too(any_runtime: Runtime) -> None:
    for options in ({"priority": "urgent"}, {"attempts": 0}, {"backoff": {"type": "linear"}}, {"delay": -1}):
        with pytest.raises(InvalidPayload):
            add_job(JobType.EMAIL_NOTIFICATION, email("ok"), **options)


def test_oversized_payloads_are_refused(any_runtime: Runtime) -> None:
    huge = {"prompt": "x" * 400, "user_id": "u" * 100}
    add_job(JobType.SKETCH_GENERATION, huge)  # within limits
    text = {"analysis_type": "text", "text": "word " * 1999, "user_id": "u"}
    limit = any_runtime.settings.max_payload_bytes
    any_runtime.settings.max_payload_bytes = 1024
    try:
        with pytest.raises(InvalidPayload) as caught:
            add_job(JobType.EMOTION_ANALYSIS, text)
        assert caught.value.errors[0][0] == "payload" and "limit is 1024 bytes" in caught.value.errors[0][1]
    finally:
        any_runtime.settings.max_payload_bytes = limit


def test_a_batch_with_one_invalid_job_writes_nothing(any_runtime: Runtime) -> None:
    requests = [JobRequest(JobType.EMAIL_NOTIFICATION, email(f"ok-{i}")) for i in range(5)]
    requests.append(JobRequest(JobType.EMAIL_NOTIFICATION, {"to": "x"}))
    with pytest.raises(InvalidPayload):
        add_jobs(requests)
    assert list_jobs("email-notification").total == 0


def test_finished_jobs_leave_nothing_behind_in_dramatiqs_keys(redis_runtime: Runtime) -> None:
    """A success is recorded and acknowledged in one script call: no message data or ack entry stays."""
    client = redis_runtime.client
    assert client is not None
    ns = redis_runtime.settings.namespace
    with scripted():
        redis_runtime.start_worker(threads=4)
        ids = [add_job(JobType.EMAIL_NOTIFICATION, email(f"ok-{i}")) for i in range(40)]
        wait_for(lambda: all(state_of(j) is JobState.SUCCEEDED for j in ids), what="all succeeded")
        broker = redis_runtime.broker
        wait_for(lambda: not broker._settled, what="every skipped ack consumed")  # type: ignore[attr-defined]
    assert client.hlen(f"{ns}:email-notification.msgs") == 0
    assert all(client.scard(k) == 0 for k in client.scan_iter(match=f"{ns}:__acks__.*"))


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"": [4111111111111111.0]}, ".0"),  # an empty key is a field name too (found by hypothesis)
        ({"context": {"ref": "4111 1111 1111 1111"}}, "context.ref"),
        ({"context": {"4111111111111111": "x"}}, "context.[card number]"),  # never repeated, even as a name
    ],
)
def test_card_numbers_are_found_and_named_by_their_path(payload: dict[str, object], field: str) -> None:
    from gemsdash.queue.payloads import find_card_number

    assert find_card_number(payload) == field


def test_memory_mode_timelines_leave_the_garbage_collector(memory_runtime: Runtime) -> None:
    """Every full collection walks the objects it tracks: a store holding tens of thousands of
    timelines as lists (one per record and one per entry) made each one slower in a long-running
    dashboard or worker process."""
    import gc

    from gemsdash.queue.memory_store import MemoryJobStore

    store = memory_runtime.store
    assert isinstance(store, MemoryJobStore)
    with scripted():
        done = [add_job(JobType.EMAIL_NOTIFICATION, email(f"gc-{i}")) for i in range(5)]
        wait_for(lambda: all(state_of(j) is JobState.SUCCEEDED for j in done), what="jobs done")
    gc.collect()
    gc.collect()
    for job_id in done:
        record = store._jobs[job_id]
        assert len(record["timeline"]) == 3, record["timeline"]
        assert not gc.is_tracked(record["timeline"])
    shown = get_job(done[0])
    assert shown is not None
    assert [e.state for e in shown.timeline] == [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED]


def test_memory_mode_forgets_finished_jobs_after_their_ttl(memory_runtime: Runtime) -> None:
    """A dashboard left running for days must not keep every finished job in memory."""
    from gemsdash.queue.memory_store import MemoryJobStore

    store = memory_runtime.store
    assert isinstance(store, MemoryJobStore)
    store.finished_ttl = 1
    with scripted():
        old = [add_job(JobType.EMAIL_NOTIFICATION, email(f"old-{i}")) for i in range(20)]
        wait_for(lambda: all(state_of(j) is JobState.SUCCEEDED for j in old), what="old jobs done")
        time.sleep(1.1)
        new = add_job(JobType.EMAIL_NOTIFICATION, email("new"))
        wait_for(lambda: state_of(new) is JobState.SUCCEEDED, what="new job done")
    assert not any(j in store._jobs for j in old)
    assert queue_stats().queues["email-notification"].counts[JobState.SUCCEEDED] == 1


def test_memory_mode_timelines_are_scrubbed_like_the_rest_of_a_record(memory_runtime: Runtime) -> None:
    """A note holding a lone surrogate (a signature passed straight to the store) is shown replaced,
    so the job still encodes: the timeline is a tuple here, and it was skipped when it became one."""
    store = memory_runtime.store
    job_id = add_job(JobType.EMAIL_NOTIFICATION, email("scrubbed"), delay=60_000)
    assert store.cancel(job_id, "mall\udcffory", "").ok
    record = get_job(job_id)
    assert record is not None and record.timeline[-1].note == "cancelled by mall\ufffdory"
    assert "mall\ufffdory" in record.model_dump_json()
