"""Test-only: puts this process's wall clock GEMSDASH_TEST_CLOCK_OFFSET seconds off (a host whose
clock is skewed). A fault test puts this directory first on a worker's PYTHONPATH; Python imports
`sitecustomize` at start-up, before any other module, so `time.time()` (and what reads it: Dramatiq's
current_millis, gemsdash's clocks) is skewed in that worker and its children only."""

import os
import time

_OFFSET = float(os.environ.get("GEMSDASH_TEST_CLOCK_OFFSET", "0"))
if _OFFSET:
    _real_time, _real_time_ns = time.time, time.time_ns
    time.time = lambda: _real_time() + _OFFSET
    time.time_ns = lambda: _real_time_ns() + int(_OFFSET * 1e9)

    import datetime as _dt

    class _SkewedDateTime(_dt.datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def]
            return super().now(tz) + _dt.timedelta(seconds=_OFFSET)

    _dt.datetime = _SkewedDateTime  # type: ignore[misc]
