"""A worker module for fault tests, run as `dramatiq tests.core.slow_worker`: the real actors,
with emotion analysis replaced by work whose length the test chooses (`text: "sleep:1.5"`), and
every start recorded in Redis so the test can count executions across processes."""

from __future__ import annotations

import time
from typing import Any

import gemsdash.actors  # noqa: F401  (under `dramatiq`, this builds the runtime and declares the actors)
from gemsdash.queue import JobType, current_job, current_runtime
from gemsdash.queue.handlers import override_work

_override = override_work(JobType.EMOTION_ANALYSIS, lambda payload: _sleepy(payload))


def _sleepy(payload: Any) -> dict[str, Any]:
    runtime = current_runtime()
    assert runtime.client is not None
    runtime.client.rpush(f"{runtime.settings.namespace}:test:runs", current_job().job_id)
    seconds = float(str(payload.text).partition(":")[2] or 0)
    time.sleep(seconds)
    return {"slept": seconds}


_override.__enter__()
