"""What an idle worker costs Redis: idle worker processes (`--threads 4` each) with nothing to do,
gemsdash versus plain Dramatiq, on the benchmark's own Redis.

Redis's CPU for an idle worker is small beside Redis's own timers (`hz` 10: about 0.15% of a core
on the 2-core VM) and the machine's noise, and most of it is not the work of the commands: each
request that finds Redis asleep wakes it with cold caches, and that wake-up costs about 80-200 µs
of CPU on the VM against 1-10 µs for the command itself (measured: a plain command 80-120 µs, a
script call 130-190 µs, at 2 a second each from 8 clients). So the figure measured is:

- several idle worker processes at once (`processes`, 4 by default), so that their CPU stands
  well out of the baseline, divided by their number;
- the baseline (the same Redis with no worker) measured right before and right after, and their
  mean taken out: a drift of the machine's load during the run then moves both sides alike;
- over a window of `seconds` after a warm-up counted from when every process is up (start-up's
  commands and the consumers' first fetches are not idle polling; booting took up to 15 s on the
  loaded VM, and a window that caught it measured 3x the requests), from redis-server's own
  rusage (`INFO cpu`, in µs, where /proc counts 10 ms ticks).

Commands are counted from `INFO commandstats`, which counts the commands scripts call as well (a
script call's time includes theirs: `command_us_per_s` adds up top-level calls only, which is the
time spent executing requests, without the wake-ups). 100 idle workers' CPU is the per-worker
figure times 100: idle workers do not share their polling, and 100 of them would find Redis awake
more often, so the extrapolation errs high.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks import redis_probe
from benchmarks.harness import Bench, Workers, wait_until
from benchmarks.work import WORK_ENV

#: Commands a script calls: not requests of their own (their time is in EVALSHA's).
_NESTED = {
    "time",
    "get",
    "set",
    "zadd",
    "zrem",
    "zrange",
    "zrangebyscore",
    "zremrangebyscore",
    "hmget",
    "sadd",
    "srem",
    "hget",
    "hdel",
    "lpop",
    "rpush",
    "smembers",
    "del",
}


@dataclass
class Idle:
    side: str
    label: str
    processes: int
    seconds: float
    #: Per worker process.
    commands_per_s: float
    #: Per worker process: EVALSHA and the commands sent by the client (requests, i.e. wake-ups).
    requests_per_s: float
    #: redis-server CPU per second caused by one worker, its baseline taken out (fraction of a core).
    redis_core_share: float
    #: redis-server CPU per second with no worker, before and after (fraction of a core).
    baseline: tuple[float, float]
    #: Time Redis spent executing one worker's requests, µs per second (commandstats, top-level).
    command_us_per_s: float
    commands: dict[str, float]
    #: Clients connected at the end of the window, the benchmark's own left out (a worker process
    #: left over from an earlier run would show here).
    clients: int = 0

    @property
    def hundred_workers_share(self) -> float:
        return 100 * self.redis_core_share


def _ready(workers: Workers) -> int:
    workers.check()
    return workers.log.read_text(errors="replace").count("Worker process is ready for action")


def _window(b: Bench, seconds: float) -> tuple[redis_probe.ServerDelta, float]:
    before, t0 = redis_probe.read(b.client), time.perf_counter()
    time.sleep(seconds)
    after, t1 = redis_probe.read(b.client), time.perf_counter()
    delta = after.minus(before)
    return delta, delta.cpu_seconds / (t1 - t0)


def run(
    b: Bench,
    side: str,
    seconds: float,
    warmup: float,
    processes: int = 4,
    threads: int = 4,
    tree: Path | None = None,
) -> Idle:
    b.fresh()
    _, baseline_before = _window(b, seconds / 2)
    namespace = f"idle-{side}"
    if side == "gemsdash":
        module, env = "benchmarks.gemsdash_worker", {"GEMSDASH_NAMESPACE": namespace, WORK_ENV: "noop"}
    else:
        module, env = "benchmarks.plain_worker", {"BENCH_NAMESPACE": namespace, WORK_ENV: "noop"}
    workers = Workers(b, module, processes, threads, env, tree=tree)
    try:
        # Booting 4 processes takes 3-15 s on the shared VM: the warm-up counts from when all are up.
        wait_until(lambda: _ready(workers) >= processes, timeout=120, what="worker processes ready")
        time.sleep(warmup)
        workers.check()
        delta, cpu = _window(b, seconds)
        clients = int(b.client.info("clients")["connected_clients"]) - 1
        workers.check()
    finally:
        workers.stop()
    b.fresh()
    _, baseline_after = _window(b, seconds / 2)
    baseline = (baseline_before + baseline_after) / 2
    per = seconds * processes
    top_level = {name: us for name, us in delta.usec.items() if name not in _NESTED}
    return Idle(
        side=side,
        label=side if tree is None else f"{side}@{tree.name}",
        processes=processes,
        seconds=seconds,
        commands_per_s=delta.total_calls / per,
        requests_per_s=sum(n for name, n in delta.calls.items() if name not in _NESTED) / per,
        redis_core_share=max(cpu - baseline, 0.0) / processes,
        baseline=(baseline_before, baseline_after),
        command_us_per_s=sum(top_level.values()) / per,
        commands={name: n / per for name, n in sorted(delta.calls.items(), key=lambda kv: -kv[1])},
        clients=clients,
    )
