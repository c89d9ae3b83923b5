"""Retry delays are what the backoff says (issue 17 item 7): fixed waits exactly its delay,
exponential doubles from it, jitter only when asked; and a retry's timeline shows it queued again
before it runs."""

from __future__ import annotations

import time
from datetime import datetime

from gemsdash.queue import JobState, JobType, Runtime, add_job, get_job
from tests.core.workload import email, scripted
from tests.support import wait_for

#: How far a wait may be from the computed one: the record's "retrying" moment is written a few
#: ms after the retry was scheduled. Dramatiq's own jitter moved waits by up to 100 %.
TOLERANCE_MS = 120


def planned_waits(job_id: str, retries: int, timeout: float = 30) -> list[int]:
    """For each retry, how long after the failure it was scheduled (next attempt - retrying moment),
    read while the job is retrying; then wait for the job to be dead."""
    seen: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = get_job(job_id)
        if record is not None and record.state is JobState.RETRYING and record.next_attempt_at is not None:
            retrying_at: datetime = record.timeline[-1].at
            seen[record.attempts] = round((record.next_attempt_at - retrying_at).total_seconds() * 1000)
        if record is not None and record.state is JobState.DEAD:
            break
        time.sleep(0.01)
    assert len(seen) == retries, seen
    return [seen[n] for n in sorted(seen)]


def test_fixed_backoff_waits_exactly_its_delay(any_runtime: Runtime) -> None:
    with scripted():
        job_id = add_job(
            JobType.EMAIL_NOTIFICATION, email("fail-fixed"), attempts=3, backoff={"type": "fixed", "delay": 700}
        )
        waits = planned_waits(job_id, 2)
    assert all(abs(w - 700) <= TOLERANCE_MS for w in waits), waits


def test_exponential_backoff_doubles_from_its_delay(any_runtime: Runtime) -> None:
    with scripted():
        job_id = add_job(
            JobType.EMAIL_NOTIFICATION, email("fail-exp"), attempts=3, backoff={"type": "exponential", "delay": 500}
        )
        waits = planned_waits(job_id, 2)
    assert abs(waits[0] - 500) <= TOLERANCE_MS and abs(waits[1] - 1000) <= TOLERANCE_MS, waits


def test_jitter_only_when_asked_and_within_its_fraction(any_runtime: Runtime) -> None:
    with scripted():
        job_id = add_job(
            JobType.EMAIL_NOTIFICATION,
            email("fail-jitter"),
            attempts=4,
            backoff={"type": "fixed", "delay": 1000, "jitter": 0.5},
        )
        waits = planned_waits(job_id, 3)
    assert all(500 - TOLERANCE_MS <= w <= 1000 + TOLERANCE_MS for w in waits), waits
    record = get_job(job_id)
    assert record is not None and record.backoff is not None and record.backoff.jitter == 0.5


def test_a_retry_is_queued_again_before_it_runs(any_runtime: Runtime) -> None:
    with scripted():
        job_id = add_job(
            JobType.EMAIL_NOTIFICATION, email("fail-timeline"), attempts=2, backoff={"type": "fixed", "delay": 300}
        )
        wait_for(lambda: (r := get_job(job_id)) is not None and r.state is JobState.DEAD, what="dead")
    record = get_job(job_id)
    assert record is not None
    states = [e.state.value for e in record.timeline]
    assert states == ["queued", "running", "retrying", "queued", "running", "dead"], states
