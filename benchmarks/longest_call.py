"""The longest single Redis call gemsdash makes at 200k records: while one runs, every other client
of that Redis waits (Redis runs one command at a time), so the goal is <= 5 ms for each action.

Measured by the server itself: SLOWLOG logs every command slower than LOGGED_OVER_US with its
execution time (a script call as one command, a MULTI as its EXEC), on the benchmark's own Redis.
Not `slowlog-log-slower-than 0`: Redis then logs every command a script calls too, and copying
tens of thousands of entries made the scripts themselves several times slower.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks import loader
from benchmarks.harness import Bench, gemsdash_runtime
from benchmarks.work import PAYLOAD
from gemsdash.queue import JobRequest, JobState, add_jobs, clear, dashboard_view, list_jobs, queue_stats
from gemsdash.queue.runtime import current_runtime

NAMESPACE = "bench-calls"
GOAL_MS = 5.0
LOGGED_OVER_US = 500


@dataclass
class LongestCall:
    action: str
    records: int
    logged: int
    longest_ms: float
    command: str
    #: Mean time of the action's script calls and transactions (INFO commandstats): on a loaded
    #: machine the longest one is often a call the OS preempted; the mean shows the call's own size.
    mean_ms: float

    @property
    def met(self) -> bool:
        return self.longest_ms <= GOAL_MS


#: The commands a gemsdash action sends whose time can grow with the data (the rest are O(1) or
#: O(log n) and cost microseconds).
_CALLS = ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_exec", "cmdstat_zrangebylex")


def _calls(b: Bench) -> tuple[int, int]:
    stats = b.client.info("commandstats")
    return sum(int(stats.get(c, {}).get("calls", 0)) for c in _CALLS), sum(
        int(stats.get(c, {}).get("usec", 0)) for c in _CALLS
    )


def _measure(b: Bench, action: str, records: int, run: Callable[[], object]) -> LongestCall:
    b.client.slowlog_reset()
    calls_before, usec_before = _calls(b)
    run()
    calls_after, usec_after = _calls(b)
    calls = calls_after - calls_before
    mean_ms = (usec_after - usec_before) / calls / 1000 if calls else 0.0
    entries = [e for e in b.client.slowlog_get(10_000) if not e["command"].upper().startswith(b"SLOWLOG")]
    worst = max(entries, key=lambda e: e["duration"], default=None)
    command = worst["command"].decode(errors="replace")[:60] if worst else ""
    return LongestCall(action, records, len(entries), worst["duration"] / 1000 if worst else 0.0, command, mean_ms)


def run(b: Bench, records: int, batch: int) -> list[LongestCall]:
    b.fresh()
    gemsdash_runtime(b, NAMESPACE)
    loader.load_parallel(b.url, NAMESPACE, records, 2)
    queue = loader.JOB_TYPE.queue
    b.client.config_set("slowlog-max-len", 10_000)
    b.client.config_set("slowlog-log-slower-than", LOGGED_OVER_US)
    requests = [JobRequest(loader.JOB_TYPE, PAYLOAD) for _ in range(batch)]
    actions: list[tuple[str, Callable[[], object]]] = [
        (f"add_jobs of {batch:,}", lambda: add_jobs(requests)),
        ("search (all states, no match)", lambda: list_jobs(queue, None, search="no-such-text")),
        ("search (succeeded, no match)", lambda: list_jobs(queue, JobState.SUCCEEDED, search="no-such-text")),
        ("priority filter (all states)", lambda: list_jobs(queue, None, priority="high")),
        ("all-states page at offset 10k", lambda: list_jobs(queue, None, offset=10_000)),
        ("succeeded page at offset 10k", lambda: list_jobs(queue, JobState.SUCCEEDED, offset=10_000)),
        ("snapshot (queue_stats)", queue_stats),
        ("dashboard refresh with a page", lambda: dashboard_view(queue, None, offset=10_000)),
        ("find ids by prefix", lambda: current_runtime().store.find_ids("a", 20)),
        (f"clear of {batch:,} queued", lambda: clear(queue)),
    ]
    found = [_measure(b, name, records, action) for name, action in actions]
    b.client.config_set("slowlog-log-slower-than", 10_000)
    return found
