"""`python -m benchmarks [--quick]`: every scenario against one private redis-server, tables printed
and written to benchmarks/RESULTS.md. See benchmarks/README.md."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import roundtrips

roundtrips.install()  # before any connection of this process is opened

from benchmarks import dashboard, enqueue, expiry, harness, idle, longest_call, report, throughput, waiting  # noqa: E402
from benchmarks.harness import ROOT, bench  # noqa: E402
from benchmarks.work import REAL_WORK  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    rounds: int
    noop: int
    sleep: int
    one_by_one: int
    batched: int
    dashboard: tuple[int, ...]
    reads: int
    ttl_seconds: float
    ttl: int
    ttl_rate: int
    memory_mode_noop: int
    memory_mode_sleep: int
    #: Idle worker: seconds measured, after seconds of warm-up.
    idle_seconds: float
    idle_warmup: float
    waiting: int
    ceiling: int
    longest_records: int


#: Full runs take four throughput rounds: each side goes first in two of them, and one slow round
#: (this machine's neighbours) moves a median of four less than a mean of two.
FULL = Sizes(
    *(4, 15_000, 6_000, 3_000, 30_000, (10_000, 100_000, 1_000_000), 300, 25, 5, 1000, 20_000, 3_000),
    idle_seconds=40,
    idle_warmup=8,
    waiting=50_000,
    ceiling=10_000,
    longest_records=200_000,
)
QUICK = Sizes(
    *(1, 4_000, 2_000, 1_000, 10_000, (10_000, 100_000), 100, 12, 3, 500, 5_000, 1_000),
    idle_seconds=20,
    idle_warmup=6,
    waiting=10_000,
    ceiling=3_000,
    longest_records=50_000,
)
SCENARIOS = [
    "throughput",
    "ceiling",
    "idle",
    "waiting",
    "enqueue",
    "dashboard",
    "expiry",
    "longest-call",
    "memory-mode",
]


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _in_process(side: str, tree: Path | None, work: str, jobs: int, threads: int) -> dict[str, Any]:
    """One memory-mode measurement, in a process of its own (benchmarks.inprocess)."""
    cwd, paths = harness.tree_env(tree)
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.inprocess", side, work, str(jobs), str(threads)],
        cwd=cwd,
        env={**os.environ, **paths},
        capture_output=True,
        text=True,
        check=True,
    )
    row: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    row["label"] = side if tree is None else f"{side}@{tree.name}"
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs (about a minute); no 1M-record step")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2, help="worker processes (both sides)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker process (both sides)")
    parser.add_argument("--batch", type=int, default=100, help="jobs per add_jobs call")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument(
        "--idle-processes", type=int, default=4, help="idle worker processes measured at once (idle scenario)"
    )
    parser.add_argument("--rounds", type=int, help="rounds of each throughput comparison (full: 4, quick: 1)")
    parser.add_argument(
        "--gemsdash-from",
        type=Path,
        nargs="+",
        metavar="DIR",
        help="compare gemsdash from these source trees (e.g. before and after a patch) instead of this checkout, "
        "in throughput, ceiling, idle and memory mode, interleaved with plain Dramatiq in every round",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SCENARIOS,
        help="some scenarios",
    )
    args = parser.parse_args(argv)
    n = QUICK if args.quick else FULL
    rounds = args.rounds or n.rounds
    # (side, source tree or None for this checkout)
    trees: list[Path | None] = [d.resolve() for d in args.gemsdash_from] if args.gemsdash_from else [None]
    variants: list[tuple[str, Path | None]] = [("dramatiq", None)] + [("gemsdash", tree) for tree in trees]
    chosen = set(args.only or SCENARIOS)
    p, t = args.processes, args.threads
    res = report.Results(
        command="python -m benchmarks" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""),
        settings=f"workers {p} processes x {t} threads on both sides; add_jobs batches of {args.batch}; "
        f"{rounds} round(s) of each throughput comparison"
        + (
            "; gemsdash from " + ", ".join(f"`{d}` (as gemsdash@{d.name})" for d in args.gemsdash_from)
            if args.gemsdash_from
            else ""
        ),
        load_before=os.getloadavg(),
    )
    started = time.monotonic()
    with bench() as b:
        if "throughput" in chosen:
            for rnd in range(rounds):
                for work, jobs in (("noop", n.noop), ("sleep10ms", n.sleep)):
                    # Alternate who goes first, so drift in the machine's load hits every side alike.
                    for side, tree in variants if rnd % 2 == 0 else variants[::-1]:
                        r = throughput.run(b, side, work, jobs, p, t, tree=tree, round_no=rnd)
                        rate, trips = r.steady_rate, r.round_trips_per_job
                        _log(f"throughput {work} {r.label}: {rate:,.0f} jobs/s, {trips:.2f} round trips/job")
                        res.throughput.append(r)
        if "ceiling" in chosen:
            # Redis CPU per real job: gemsdash's emotion analysis (its result stored) against plain
            # Dramatiq's no-op, whose Redis cost does not depend on the work (it stores no result).
            for rnd in range(rounds):
                for side, tree in variants if rnd % 2 == 0 else variants[::-1]:
                    work = "noop" if side == "dramatiq" else REAL_WORK
                    r = throughput.run(b, side, work, n.ceiling, p, t, tree=tree, round_no=rnd)
                    _log(f"ceiling {work} {r.label}: {r.redis_cpu_us_per_job:.0f} µs Redis CPU/job")
                    res.ceiling.append(r)
        if "idle" in chosen:
            for rnd in range(rounds):
                for side, tree in variants if rnd % 2 == 0 else variants[::-1]:
                    i = idle.run(b, side, n.idle_seconds, n.idle_warmup, args.idle_processes, tree=tree)
                    _log(
                        f"idle {i.label}: {i.commands_per_s:.1f} commands/s, {i.requests_per_s:.2f} requests/s, "
                        f"Redis {i.hundred_workers_share:.2%} of a core per 100 workers "
                        f"(baseline {i.baseline[0]:.3%}/{i.baseline[1]:.3%}), {i.clients} clients; "
                        + ", ".join(f"{name} {n:.2f}" for name, n in list(i.commands.items())[:8])
                    )
                    res.idle.append(i)
        if "waiting" in chosen:
            for side in ("dramatiq", "gemsdash"):
                w = waiting.run(b, side, n.waiting)
                _log(f"waiting {side}: {w.bytes_per_job:,.0f} B/job")
                res.waiting.append(w)
        if "enqueue" in chosen:
            res.enqueue = enqueue.run(b, n.one_by_one, n.batched, args.batch)
            for e in res.enqueue:
                _log(f"enqueue {e.path}: {e.rate:,.0f} jobs/s, p50 {e.p50_ms:.2f} ms")
        if "dashboard" in chosen:
            res.reads, res.memory = dashboard.run(b, list(n.dashboard), n.reads)
            for m in res.memory:
                _log(f"memory at {m.records:,} records: {m.bytes_per_record:,.0f} B/record")
        if "expiry" in chosen:
            res.expiry = expiry.run(b, n.ttl_seconds, n.ttl, n.ttl_rate, p, t)
            _log(f"expiry: memory change after {2 * res.expiry.ttl} s: {res.expiry.growth_after_first_ttls():+.1%}")
        if "longest-call" in chosen:
            res.longest = longest_call.run(b, n.longest_records, 10_000)
            for c in res.longest:
                _log(f"longest call, {c.action}: {c.longest_ms:.2f} ms")
    if "memory-mode" in chosen:
        # As many alternated rounds as the other comparisons: one process's rate here swings by a
        # fifth from run to run on this machine, and a single pair once decided the row's verdict.
        for rnd in range(rounds):
            for work, jobs in (("noop", n.memory_mode_noop), ("sleep10ms", n.memory_mode_sleep)):
                for side, tree in variants if rnd % 2 == 0 else variants[::-1]:
                    row = _in_process(side, tree, work, jobs, t)
                    _log(f"memory mode {work} {row['label']}: {row['rate']:,.0f} jobs/s")
                    res.inprocess.append(row)
    res.load_after = os.getloadavg()
    text = report.render(res)
    print()
    print(text)
    args.output.write_text(text)
    _log(f"wrote {args.output} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
