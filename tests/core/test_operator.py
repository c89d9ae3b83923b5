"""Issue 17's admin-level changes, in both store modes: what the audit log says about batches and
about the demo feed's own changes."""

from __future__ import annotations

import time
import uuid

import pytest

from gemsdash.demo import DemoFeeder
from gemsdash.queue import (
    AmbiguousJobId,
    InvalidTransition,
    JobNotFound,
    JobState,
    JobType,
    Runtime,
    abort,
    add_job,
    audit_log,
    cancel,
    clear,
    delete,
    get_job,
    job_logs,
    list_jobs,
    pause,
    queue_stats,
    resume,
    retry,
    retry_jobs,
    run_now,
    stats_json,
)
from gemsdash.queue.pausing import CHECK_SECONDS
from tests.core.workload import email, scripted
from tests.support import another_store, state_of, wait_for


def test_a_batch_retry_is_audited_with_its_ids_and_queue(any_runtime: Runtime) -> None:
    with scripted():
        ids = [add_job(JobType.EMAIL_NOTIFICATION, email(f"fatal-{i}"), attempts=1) for i in range(3)]
        wait_for(lambda: all(state_of(i) is JobState.DEAD for i in ids), what="dead")
        assert retry_jobs(ids) == (3, [])
        # The retried jobs fail again here: left to the real email actor they would hold the
        # fixture's worker stop for its whole 10 s timeout.
        wait_for(lambda: all(state_of(i) is JobState.DEAD for i in ids), what="dead again")
    entry = audit_log(1)[0]
    assert entry["action"] == "retry" and entry["count"] == 3
    assert entry["ids"] == ids
    assert entry["queue"] == "email-notification"


def test_the_demo_feeds_cancels_are_signed_as_the_demo(memory_runtime: Runtime) -> None:
    feeder = DemoFeeder()
    for _ in range(24):
        feeder.feed_once()
        if audit_log(5):
            break
    entries = audit_log(5)
    assert entries and all(e["action"] == "cancel" for e in entries)
    assert all(e["by"].startswith("demo feed (") for e in entries)
    record = get_job(entries[0]["target"])
    assert record is not None and record.timeline[-1].note is not None
    assert record.timeline[-1].note.startswith("cancelled by demo feed")


# -- job id prefixes ----------------------------------------------------------------------------

TWINS = ["abcdef12-0000-4000-8000-000000000001", "abcdef12-0000-4000-8000-000000000002"]
SINGLE = "fedcba98-0000-4000-8000-000000000003"


def with_ids(monkeypatch: pytest.MonkeyPatch, ids: list[str]) -> None:
    """The next jobs get these ids (real ids are UUID4s: two sharing 8 characters are rare)."""
    chosen = iter(uuid.UUID(i) for i in ids)
    real = uuid.uuid4
    monkeypatch.setattr(uuid, "uuid4", lambda: next(chosen, None) or real())


def test_an_id_prefix_of_eight_or_more_characters_names_its_job(
    any_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_ids(monkeypatch, [*TWINS, SINGLE])
    made = [add_job(JobType.EMAIL_NOTIFICATION, email(f"ok-{i}"), delay=60_000) for i in range(3)]
    assert made == [*TWINS, SINGLE]
    found = get_job(SINGLE[:8])
    assert found is not None and found.id == SINGLE
    found = get_job(SINGLE[:20])
    assert found is not None and found.id == SINGLE
    with pytest.raises(AmbiguousJobId) as ambiguous:
        get_job(TWINS[0][:8])
    assert ambiguous.value.matches == TWINS and all(t in str(ambiguous.value) for t in TWINS)
    assert ambiguous.value.exit_code == 1
    assert get_job(SINGLE[:7]) is None, "fewer than 8 characters is not taken as a prefix"
    assert get_job("00000000") is None
    assert cancel(SINGLE[:8]) == SINGLE
    assert state_of(SINGLE) is JobState.CANCELLED


def test_a_deleted_jobs_prefix_no_longer_matches(any_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    with_ids(monkeypatch, [*TWINS])
    with scripted():
        for i in range(2):
            add_job(JobType.EMAIL_NOTIFICATION, email(f"fatal-{i}"), attempts=1)
        wait_for(lambda: all(state_of(t) is JobState.DEAD for t in TWINS), what="dead")
    with pytest.raises(AmbiguousJobId):
        get_job(TWINS[0][:8])
    clear("email-notification", include_dead=True)
    assert get_job(TWINS[0][:8]) is None
    assert any_runtime.store.find_ids(TWINS[0][:8], 10) == []


# -- pause and resume ---------------------------------------------------------------------------


def test_a_paused_queue_runs_nothing_at_any_priority_until_resumed(any_runtime: Runtime) -> None:
    with scripted() as work:
        assert pause("email-notification") is True
        assert pause("email-notification") is False, "already paused"
        assert stats_json()["paused"] == ["email-notification"]
        time.sleep(CHECK_SECONDS * 2)  # every consumer has seen it
        ids = [add_job(JobType.EMAIL_NOTIFICATION, email(f"ok-{p}"), priority=p) for p in ("critical", "normal", "low")]
        ids.append(add_job(JobType.EMAIL_NOTIFICATION, email("ok-delayed"), delay=200))
        time.sleep(2.0)
        assert work.started == [], "a paused queue's jobs do not run"
        assert {state_of(i) for i in ids} == {JobState.QUEUED}, "enqueueing goes on; the delayed one came due"
        assert resume("email-notification") is True
        assert stats_json()["paused"] == []
        wait_for(lambda: all(state_of(i) is JobState.SUCCEEDED for i in ids), what="all run after resume")
    assert sorted(work.started) == sorted(["ok-critical", "ok-normal", "ok-low", "ok-delayed"])
    assert [e["action"] for e in audit_log(2)] == ["resume", "pause"]
    assert audit_log(1)[0]["target"] == "email-notification"


def test_a_pause_outlives_the_process_that_set_it(redis_runtime: Runtime, redis_url: str) -> None:
    pause("sketch-generation")
    assert another_store(redis_runtime.store, redis_url).paused() == frozenset({"sketch-generation"})


# -- delete -------------------------------------------------------------------------------------


def test_delete_removes_a_dead_or_cancelled_job_for_good_and_refuses_others(any_runtime: Runtime) -> None:
    with scripted():
        dead_id = add_job(JobType.EMAIL_NOTIFICATION, email("fatal-1"))
        wait_for(lambda: state_of(dead_id) is JobState.DEAD, what="dead")
    waiting = add_job(JobType.EMAIL_NOTIFICATION, email("ok-later"), delay=60_000)
    cancelled = add_job(JobType.EMAIL_NOTIFICATION, email("ok-later"), delay=60_000)
    cancel(cancelled)
    with pytest.raises(InvalidTransition, match=r"cannot delete job .*: it is delayed"):
        delete(waiting)
    assert delete(dead_id[:8]) == dead_id
    assert delete(cancelled) == cancelled
    assert get_job(dead_id) is None and get_job(cancelled) is None
    counts = queue_stats().queues["email-notification"].counts
    assert counts[JobState.DEAD] == 0 and counts[JobState.CANCELLED] == 0 and counts[JobState.DELAYED] == 1
    with pytest.raises(JobNotFound):
        delete(dead_id)
    entries = audit_log(2)
    assert [(e["action"], e["target"]) for e in entries] == [("delete", cancelled), ("delete", dead_id)]


# -- search by payload --------------------------------------------------------------------------


def test_search_finds_jobs_by_idempotency_key_user_id_or_email(any_runtime: Runtime) -> None:
    def payment(n: int) -> dict[str, object]:
        return {
            "payment_id": f"pay_{n}",
            "operation": "capture",
            "amount": 100 + n,
            "currency": "EUR",
            "payment_method": "pm_card_visa",
            "idempotency_key": f"order-{n}-key",
        }

    pay = [add_job(JobType.PAYMENT_PROCESSING, payment(n), delay=60_000) for n in (17, 18)]
    mails = [
        add_job(JobType.EMAIL_NOTIFICATION, {**email("ok"), "to": addr, "user_id": uid}, delay=60_000)
        for addr, uid in (("alice@example.com", "u-alice"), ("bob@example.com", "u-bob"))
    ]

    def found(queue: str, text: str) -> list[str]:
        return [j.id for j in list_jobs(queue, search=text).jobs]

    assert found("payment-processing", "order-18") == [pay[1]]
    assert found("payment-processing", "PAY_17") == [pay[0]]
    assert found("email-notification", "alice@") == [mails[0]]
    assert found("email-notification", "u-bob") == [mails[1]]
    assert found("email-notification", "welcome") == [], "other payload fields are not searched"
    assert found("payment-processing", "pm_card") == [], "nor is the payment method"


# -- filter by priority -------------------------------------------------------------------------


def test_jobs_can_be_filtered_by_priority(any_runtime: Runtime) -> None:
    made = {
        p: [add_job(JobType.EMAIL_NOTIFICATION, email(f"ok-{p}-{i}"), priority=p, delay=60_000) for i in range(2)]
        for p in ("critical", "low")
    }
    critical = list_jobs("email-notification", priority="critical")
    assert {j.id for j in critical.jobs} == set(made["critical"]) and critical.total == 2
    delayed_low = list_jobs("email-notification", state="delayed", priority="low")
    assert {j.id for j in delayed_low.jobs} == set(made["low"]) and delayed_low.total == 2
    assert list_jobs("email-notification", state="delayed", priority="high").jobs == []
    searched = list_jobs("email-notification", search=made["low"][1][:8], priority="low")
    assert [j.id for j in searched.jobs] == [made["low"][1]]
    assert list_jobs("email-notification", search=made["low"][1][:8], priority="critical").jobs == []


# -- abort a running job ------------------------------------------------------------------------


def test_abort_stops_a_running_job_within_seconds_and_it_ends_cancelled(any_runtime: Runtime) -> None:
    with scripted() as work:
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("slow-1"), attempts=3)
        wait_for(lambda: state_of(job_id) is JobState.RUNNING, what="running")
        asked = time.monotonic()
        assert abort(job_id[:8]) == job_id
        wait_for(lambda: state_of(job_id) is JobState.CANCELLED, timeout=5, what="aborted")
        took = time.monotonic() - asked
        time.sleep(1.0)
        assert work.started == ["slow-1"], "an aborted job is not retried"
    assert took < 3.0, took
    record = get_job(job_id)
    assert record is not None and record.attempts == 1 and record.finished_at is not None
    note = record.timeline[-1].note or ""
    assert note.startswith("aborted by ") and "@" in note, note
    assert record.error is not None and record.error.type == "JobAborted"
    assert audit_log(1)[0]["action"] == "abort" and audit_log(1)[0]["target"] == job_id
    counts = queue_stats().queues["email-notification"].counts
    assert counts[JobState.RUNNING] == 0 and counts[JobState.CANCELLED] == 1 and counts[JobState.DEAD] == 0


def test_only_a_running_job_can_be_aborted(any_runtime: Runtime) -> None:
    waiting = add_job(JobType.EMAIL_NOTIFICATION, email("ok-later"), delay=60_000)
    with pytest.raises(InvalidTransition, match=r"cannot abort job .*: it is delayed"):
        abort(waiting)
    with pytest.raises(JobNotFound):
        abort("00000000-0000-4000-8000-000000000000")


# -- run a delayed or retrying job now ----------------------------------------------------------


def test_run_now_runs_a_delayed_job_at_once_and_only_once(any_runtime: Runtime) -> None:
    with scripted() as work:
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("block-soon"), delay=2_000)
        time.sleep(0.5)  # a worker may already hold the delayed copy until its time
        assert run_now(job_id[:8]) == job_id
        wait_for(lambda: state_of(job_id) is JobState.RUNNING, timeout=1.5, what="running before its time")
        time.sleep(2.5)  # past the original time, while the job still runs: the waiting copy is skipped
        assert work.started == ["block-soon"], "the copy that was waiting did not run too"
        work.release.set()
        wait_for(lambda: state_of(job_id) is JobState.SUCCEEDED, what="done")
    record = get_job(job_id)
    assert record is not None and record.attempts == 1
    assert any((e.note or "").startswith("run now by ") for e in record.timeline)
    assert audit_log(1)[0]["action"] == "run-now"


def test_run_now_brings_a_retry_forward_and_keeps_counting_attempts(any_runtime: Runtime) -> None:
    with scripted() as work:
        job_id = add_job(
            JobType.EMAIL_NOTIFICATION, email("fail-now"), attempts=2, backoff={"type": "fixed", "delay": 30_000}
        )
        wait_for(lambda: state_of(job_id) is JobState.RETRYING, what="retrying")
        run_now(job_id)
        wait_for(lambda: state_of(job_id) is JobState.DEAD, timeout=5, what="second and last attempt ran now")
    assert work.started == ["fail-now", "fail-now"]
    record = get_job(job_id)
    assert record is not None and record.attempts == 2


def test_run_now_refuses_a_job_that_is_not_waiting_for_its_time(any_runtime: Runtime) -> None:
    with scripted():
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("ok"))
        wait_for(lambda: state_of(job_id) is JobState.SUCCEEDED, what="done")
    with pytest.raises(InvalidTransition, match="it has already succeeded"):
        run_now(job_id)


# -- per-job log lines --------------------------------------------------------------------------


def test_what_a_job_logged_is_kept_bounded_and_masked(any_runtime: Runtime) -> None:
    secret = "hunter2-very-secret"
    with scripted():
        quiet = add_job(JobType.EMAIL_NOTIFICATION, email("ok-quiet"))
        chatty = add_job(
            JobType.EMAIL_NOTIFICATION,
            {**email("x"), "context": {"name": "log-chatty", "password": secret, "lines": 80}},
        )
        wait_for(lambda: all(state_of(i) is JobState.SUCCEEDED for i in (quiet, chatty)), what="done")
    assert job_logs(quiet) == []
    lines = job_logs(chatty[:8])
    assert len(lines) == 51 and lines[-1] == "… 32 more line(s) not kept"
    assert "WARNING tests.job: starting log-chatty" in lines[0]
    assert "signing in with ***" in lines[1] and all(secret not in line for line in lines)
    assert not any("machinery" in line for line in lines), "Dramatiq's own logs are not the job's"


def test_a_job_run_now_then_cancelled_and_retried_still_runs(any_runtime: Runtime) -> None:
    with scripted() as work:
        pause("email-notification")
        time.sleep(CHECK_SECONDS * 2)
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("ok-later"), delay=60_000)
        run_now(job_id)
        cancel(job_id)
        retry(job_id)
        resume("email-notification")
        wait_for(lambda: state_of(job_id) is JobState.SUCCEEDED, what="the retried copy ran")
    assert work.started == ["ok-later"]
