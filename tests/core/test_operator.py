"""Issue 17's admin-level changes, in both store modes: what the audit log says about batches and
about the demo feed's own changes."""

from __future__ import annotations

from gemsdash.demo import DemoFeeder
from gemsdash.queue import JobState, JobType, Runtime, add_job, audit_log, get_job, retry_jobs
from tests.core.workload import email, scripted
from tests.support import wait_for


def state_of(job_id: str) -> JobState | None:
    record = get_job(job_id)
    return record.state if record else None


def test_a_batch_retry_is_audited_with_its_ids_and_queue(any_runtime: Runtime) -> None:
    with scripted():
        ids = [add_job(JobType.EMAIL_NOTIFICATION, email(f"fatal-{i}"), attempts=1) for i in range(3)]
        wait_for(lambda: all(state_of(i) is JobState.DEAD for i in ids), what="dead")
        assert retry_jobs(ids) == (3, [])
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
