"""The benchmark's two kinds of job, shared by both sides so they run the very same work."""

from __future__ import annotations

import os
import time
from typing import Any

#: Environment variable naming the work a benchmark worker process runs.
WORK_ENV = "BENCH_WORK"
#: Work name -> seconds of I/O-like waiting per job.
WORKS = {"noop": 0.0, "sleep10ms": 0.010}
#: gemsdash only: the job type's own work (emotion analysis of PAYLOAD's text), not replaced, so its
#: real result is stored; for the Redis cost of a real job (plain Dramatiq stores no result, so its
#: Redis cost per job is its no-op's).
REAL_WORK = "emotion"
#: The payload of every benchmark job: a valid emotion-analysis payload, small like most jobs'.
PAYLOAD: dict[str, Any] = {"analysis_type": "text", "text": "benchmark", "user_id": "bench"}


def chosen_seconds() -> float:
    return WORKS[os.environ.get(WORK_ENV, "noop")]


def perform(seconds: float) -> None:
    if seconds:
        time.sleep(seconds)
