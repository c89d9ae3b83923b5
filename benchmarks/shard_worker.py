"""The worker of the sharding scenario, run as `python -m dramatiq benchmarks.shard_worker`: the real
gemsdash runtime of the shard GEMSDASH_SHARD names, with the work of the two job types the scenario
enqueues (emotion analysis, email) replaced by the benchmark's no-op or 10 ms wait."""

from __future__ import annotations

import gemsdash.actors  # noqa: F401  (configures the runtime of GEMSDASH_SHARD from the environment)
from benchmarks.work import chosen_seconds, perform
from gemsdash.queue import JobType
from gemsdash.queue.handlers import override_work

_seconds = chosen_seconds()
# Kept referenced: a collected context manager would close its generator and restore the real work.
_OVERRIDES = [
    override_work(job_type, lambda payload: perform(_seconds))
    for job_type in (JobType.EMOTION_ANALYSIS, JobType.EMAIL_NOTIFICATION)
]
for _override in _OVERRIDES:
    _override.__enter__()
