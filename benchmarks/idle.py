"""What an idle worker costs Redis: one worker process (`--processes 1 --threads 4` unless told
otherwise) with nothing to do, gemsdash versus plain Dramatiq, on the benchmark's own Redis.

After a warm-up (start-up's commands and the consumers' first fetches are not idle polling), the
commands of a window are counted from `INFO commandstats`, with the time Redis spent in them, and
redis-server's CPU from `INFO cpu` (its own rusage: microseconds, where /proc counts 10 ms ticks);
the CPU of the same window with no worker at all (Redis's own timers) is taken out. 100 idle workers'
CPU is that per-worker figure times 100: idle workers do not share their polling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from benchmarks import redis_probe
from benchmarks.harness import Bench, Workers
from benchmarks.work import WORK_ENV


@dataclass
class Idle:
    side: str
    seconds: float
    commands_per_s: float
    #: redis-server CPU per second caused by the worker, its baseline taken out (fraction of a core).
    redis_core_share: float
    #: Time Redis spent executing the worker's commands, µs per second (commandstats; steadier than CPU).
    command_us_per_s: float
    commands: dict[str, float]

    @property
    def hundred_workers_share(self) -> float:
        return 100 * self.redis_core_share


def _window(b: Bench, seconds: float) -> tuple[redis_probe.ServerDelta, float]:
    before, t0 = redis_probe.read(b.client), time.perf_counter()
    time.sleep(seconds)
    after, t1 = redis_probe.read(b.client), time.perf_counter()
    delta = after.minus(before)
    return delta, delta.cpu_seconds / (t1 - t0)


def run(b: Bench, side: str, seconds: float, warmup: float, processes: int = 1, threads: int = 4) -> Idle:
    b.fresh()
    _, baseline = _window(b, seconds)
    namespace = f"idle-{side}"
    if side == "gemsdash":
        module, env = "benchmarks.gemsdash_worker", {"GEMSDASH_NAMESPACE": namespace, WORK_ENV: "noop"}
    else:
        module, env = "benchmarks.plain_worker", {"BENCH_NAMESPACE": namespace, WORK_ENV: "noop"}
    workers = Workers(b, module, processes, threads, env)
    try:
        time.sleep(warmup)
        workers.check()
        delta, cpu = _window(b, seconds)
        workers.check()
    finally:
        workers.stop()
    return Idle(
        side=side,
        seconds=seconds,
        commands_per_s=delta.total_calls / seconds,
        redis_core_share=max(cpu - baseline, 0.0),
        command_us_per_s=sum(delta.usec.values()) / seconds,
        commands={name: n / seconds for name, n in sorted(delta.calls.items(), key=lambda kv: -kv[1])},
    )
