"""The gemsdash side, run as `python -m dramatiq benchmarks.gemsdash_worker`: the real runtime,
actors and middleware (tracking, priorities, heartbeat, recovery), with emotion analysis's work
replaced by the benchmark's (`BENCH_WORK`), the way `tests/core/slow_worker.py` replaces it."""

from __future__ import annotations

from benchmarks import roundtrips

roundtrips.install()  # before gemsdash opens its connection

import os  # noqa: E402

import gemsdash.actors  # noqa: E402, F401  (configures the runtime from the environment)
from benchmarks.work import REAL_WORK, WORK_ENV, chosen_seconds, perform  # noqa: E402
from gemsdash.queue import JobType, current_runtime  # noqa: E402
from gemsdash.queue.handlers import override_work  # noqa: E402

if os.environ.get(WORK_ENV) != REAL_WORK:
    _seconds = chosen_seconds()
    # Kept referenced: a collected context manager would close its generator and restore the real work.
    _OVERRIDE = override_work(JobType.EMOTION_ANALYSIS, lambda payload: perform(_seconds))
    _OVERRIDE.__enter__()
current_runtime().broker.add_middleware(roundtrips.RoundTripReport())
