"""A Redis outage costs a worker process two log lines (issue 12, item 7): one WARNING when Redis
is lost and one INFO with how long it lasted when it is back, not a CRITICAL and a "Restarting"
line per consumer thread every few seconds."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from gemsdash.queue import JobState, JobType, Runtime, add_job, get_job, queue_stats
from tests.faults.workers import WorkerProcess, worker_env
from tests.support import RedisServer, wait_for

pytestmark = pytest.mark.slow


def mail(to: str) -> dict[str, object]:
    return {"to": to, "template": "welcome", "context": {"name": "A"}}


@pytest.mark.timeout(120)
def test_an_outage_logs_one_warning_and_one_reconnected_line(
    own_redis: RedisServer, runtime: Runtime, tmp_path: Path
) -> None:
    worker = WorkerProcess(worker_env(own_redis.url, "outage-log", tmp_path), tmp_path, processes=2, threads=4)
    try:
        wait_for(lambda: queue_stats().workers >= 2, timeout=60, interval=0.2, what="both worker processes")
        # A delayed job held in memory and a job blocked on Redis while it is away.
        delayed = add_job(JobType.EMAIL_NOTIFICATION, mail("a@example.com"), delay=3000)
        time.sleep(2)
        before = len(worker.lines())
        own_redis.stop(signal.SIGKILL)
        time.sleep(15)
        own_redis.start()
        wait_for(lambda: get_job(delayed).state is JobState.SUCCEEDED, timeout=40, what="the delayed job")  # type: ignore[union-attr]
        after = add_job(JobType.EMAIL_NOTIFICATION, mail("b@example.com"))
        wait_for(lambda: get_job(after).state is JobState.SUCCEEDED, timeout=30, what="a job after the outage")  # type: ignore[union-attr]
        time.sleep(2)
    finally:
        worker.stop()
    lines = worker.lines()
    outage = [line for line in lines[before:] if not line.startswith(" ") and "Shutting down" not in line]
    during = [line for line in outage if "Stopping" not in line and "stopped" not in line]
    lost = [line for line in during if "Lost the connection to Redis" in line]
    back = [line for line in during if re.search(r"Reconnected to Redis after \d+\.\d s", line)]
    print(f"\nworker log lines over a 15 s outage (2 processes): {len(during)}")
    print("\n".join(during[:20]))
    assert len(lost) == 2 and all("WARNING" in line for line in lost), during
    assert len(back) == 2 and all("INFO" in line for line in back), during
    assert not [line for line in during if "CRITICAL" in line or "Restarting consumer" in line], during
    # Every heartbeat is old when Redis returns: no live worker may be taken for dead then.
    assert not [line for line in during if "dead worker" in line], during
