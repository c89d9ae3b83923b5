"""A worker whose clock is 30 s off runs nothing twice, early or late (issue 12, item 5): every
time one process writes and another compares (heartbeats, recovery deadlines, due times, timeline
entries) is Redis's, read with TIME in the scripts or measured against it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from gemsdash.queue import JobState, JobType, Runtime, add_job, get_job, queue_stats
from tests.faults.workers import WorkerProcess, skewed, worker_env
from tests.support import wait_for

pytestmark = pytest.mark.slow

DELAY_MS = 4000
#: README "Reliability": how late after its due time a delayed job may start.
LATE_BOUND_MS = 10_000


@pytest.mark.timeout(150)
@pytest.mark.parametrize("skew_s", [30, -30])
def test_a_skewed_worker_duplicates_nothing(
    redis_runtime: Runtime, redis_url: str, tmp_path: Path, skew_s: int
) -> None:
    send_log = tmp_path / "sends.log"
    env = worker_env(
        redis_url,
        redis_runtime.settings.namespace,
        tmp_path,
        GEMSDASH_EMAIL_SENDER="tests.faults.plugins:LoggingSender",
        GEMSDASH_TEST_SEND_LOG=str(send_log),
        GEMSDASH_TEST_SEND_SLEEP="0.5",
    )
    workers = [WorkerProcess(env, tmp_path), WorkerProcess(skewed(env, skew_s), tmp_path)]
    try:
        wait_for(lambda: queue_stats().workers >= 2, timeout=60, interval=0.2, what="both workers")
        now_ids = [
            add_job(
                JobType.EMAIL_NOTIFICATION, {"to": f"u{i}@example.com", "template": "welcome", "context": {"name": "U"}}
            )
            for i in range(60)
        ]
        later_ids = [
            add_job(
                JobType.EMAIL_NOTIFICATION,
                {"to": f"d{i}@example.com", "template": "welcome", "context": {"name": "D"}},
                delay=DELAY_MS,
            )
            for i in range(10)
        ]
        ids = now_ids + later_ids

        def done() -> bool:
            return all(get_job(j).state is JobState.SUCCEEDED for j in ids)  # type: ignore[union-attr]

        wait_for(done, timeout=90, interval=0.5, what=f"all {len(ids)} emails to be sent")
    finally:
        for worker in workers:
            worker.stop()
    sends = Counter(line.split()[0] for line in send_log.read_text().splitlines())
    duplicates = sum(n - 1 for n in sends.values())
    records = [get_job(j) for j in ids]
    reruns = sum(r.attempts - 1 for r in records if r is not None)
    disordered = [
        r.id for r in records if r is not None and [e.at for e in r.timeline] != sorted(e.at for e in r.timeline)
    ]
    lateness = []
    for job_id in later_ids:
        record = get_job(job_id)
        assert record is not None and record.started_at is not None
        lateness.append((record.started_at - record.created_at).total_seconds() * 1000 - DELAY_MS)
    print(
        f"\nskew {skew_s:+d} s: jobs {len(ids)}, sends {sum(sends.values())}, duplicate sends {duplicates}, "
        f"re-runs {reruns}, timelines out of order {len(disordered)}, "
        f"delayed jobs started {min(lateness):.0f}..{max(lateness):.0f} ms after due"
    )
    assert set(sends) == set(ids)
    assert duplicates == 0 and reruns == 0
    assert not disordered
    assert min(lateness) >= -50  # never early (50 ms: the offset's rounding)
    assert max(lateness) <= LATE_BOUND_MS
