"""Redis's clock, as seen from this process.

When one process writes a time and another compares it (heartbeats, recovery deadlines, due
times, timelines), both must use one clock, or a host a few seconds off makes live workers look
dead and runs their jobs twice. The scripts read Redis's `TIME` themselves; times that are made
here (a delayed job's due time, a record's creation time, a read's "now") add the offset between
this host's clock and Redis's, measured with `TIME` when the process connects and again on every
worker heartbeat. The offset is off by at most half a round trip (well under a millisecond on a
LAN), not by the host's skew. In memory mode there is one process and one clock: the offset is 0.
"""

from __future__ import annotations

import time
from typing import Any

_offset_ms = 0


def now_ms() -> int:
    """Milliseconds since the epoch by Redis's clock (this host's own in memory mode)."""
    return int(time.time() * 1000) + _offset_ms


def offset_ms() -> int:
    """Redis's clock minus this host's, in ms: add it to a local time to get Redis's."""
    return _offset_ms


def sync(client: Any) -> int:
    """Measure the offset with one `TIME` call on a redis-py client; returns it."""
    before = time.time()
    seconds, micros = client.time()
    return observe(int(seconds) * 1000 + int(micros) // 1000, before, time.time())


def observe(redis_ms: int, before: float, after: float) -> int:
    """Take Redis's time `redis_ms`, read by a call sent at local time `before` (s) and answered
    at `after`, as Redis's clock at the midpoint; returns the new offset."""
    global _offset_ms
    _offset_ms = int(redis_ms) - int((before + after) / 2 * 1000)
    return _offset_ms


def reset() -> None:
    global _offset_ms
    _offset_ms = 0
