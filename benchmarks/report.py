"""Turns the scenarios' results into the printed tables and `benchmarks/RESULTS.md`."""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dramatiq
import redis

import gemsdash
from benchmarks.dashboard import Memory, Read
from benchmarks.enqueue import Enqueue
from benchmarks.expiry import Expiry
from benchmarks.harness import ROOT
from benchmarks.idle import Idle
from benchmarks.longest_call import GOAL_MS, LongestCall
from benchmarks.throughput import Throughput
from benchmarks.waiting import Waiting

#: Issue 19: no loss of end-to-end throughput against plain Dramatiq (earlier rounds aimed at 0.8 / 0.95).
TARGET_NOOP = 1.0
TARGET_SLEEP = 0.98
TARGET_BATCH = 4.0
TARGET_RECORD_BYTES = 1024
#: Issue 19's goals: gemsdash / plain Dramatiq on the same Redis, or absolute.
GOAL_COMMANDS_RATIO = 1.5
GOAL_REDIS_CPU_RATIO = 1.3
GOAL_CEILING_JOBS_S = 15_000
GOAL_IDLE_RATIO = 2.0
GOAL_HUNDRED_IDLE_SHARE = 0.03
GOAL_WAITING_BYTES = 900
GOAL_MEMORY_MODE_RATIO = 0.7


@dataclass
class Results:
    command: str
    settings: str
    load_before: tuple[float, float, float]
    throughput: list[Throughput] = field(default_factory=list)
    enqueue: list[Enqueue] = field(default_factory=list)
    reads: list[Read] = field(default_factory=list)
    memory: list[Memory] = field(default_factory=list)
    expiry: Expiry | None = None
    inprocess: list[dict[str, float | str]] = field(default_factory=list)
    ceiling: list[Throughput] = field(default_factory=list)
    idle: list[Idle] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    longest: list[LongestCall] = field(default_factory=list)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(v: object) -> str:
        if isinstance(v, float):
            if math.isnan(v):
                return "n/a"
            return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass(frozen=True)
class Comparison:
    work: str
    label: str
    rate: float
    dramatiq_rate: float
    #: Median over rounds of (this side's rate / plain Dramatiq's rate in the same round).
    ratio: float


def throughput_summary(results: list[Throughput]) -> list[Comparison]:
    """Per work and gemsdash variant: median rates over the rounds and the median per-round ratio."""
    found: list[Comparison] = []
    for work in dict.fromkeys(r.work for r in results):
        mine = [r for r in results if r.work == work]
        plain = {r.round: r.steady_rate for r in mine if r.side == "dramatiq"}
        for label in dict.fromkeys(r.label for r in mine if r.side != "dramatiq"):
            runs = [r for r in mine if r.label == label]
            ratios = [r.steady_rate / plain[r.round] for r in runs if plain.get(r.round)]
            found.append(
                Comparison(
                    work, label, _median([r.steady_rate for r in runs]), _median(list(plain.values())), _median(ratios)
                )
            )
    return found


def versions() -> dict[str, str]:
    server = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()
    server_version = next((w.partition("=")[2] for w in server if w.startswith("v=")), "?")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "gemsdash"], cwd=ROOT, capture_output=True, text=True)
    return {
        "Python": platform.python_version(),
        "Dramatiq": dramatiq.__version__,
        "redis-py": redis.__version__,
        "redis-server": server_version,
        "gemsdash": f"{gemsdash.__version__} (git {commit.stdout.strip() or '?'}"
        + (", with uncommitted changes under gemsdash/" if dirty.stdout.strip() else "")
        + ")",
    }


def render(res: Results) -> str:
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    out = [
        "# gemsdash benchmark results",
        "",
        f"Written by `{res.command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"- Machine: {os.cpu_count()} cores, {memory_gib:.0f} GiB RAM, {platform.system()} {platform.machine()}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()),
        f"- Settings: {res.settings}",
        "- Load average (1/5/15 min) before: {:.2f} / {:.2f} / {:.2f}; after: {:.2f} / {:.2f} / {:.2f}. Everything "
        "(Redis, workers, producer) shares these cores; other processes on the machine show up as noise, which "
        "is why both sides run alternately and the ratios are medians of per-round ratios.".format(
            *res.load_before, *res.load_after
        ),
        "",
    ]
    out += redis_cost(res)
    if res.throughput:
        summary = throughput_summary(res.throughput)
        out += ["## 1. End-to-end throughput (Redis mode)", ""]
        rows: list[list[object]] = []
        for c in summary:
            target = TARGET_NOOP if c.work == "noop" else TARGET_SLEEP
            rows.append(
                [
                    c.work,
                    c.label,
                    c.rate,
                    c.dramatiq_rate,
                    f"{c.ratio:.2f}x",
                    f">= {target}x",
                    verdict(c.ratio >= target),
                ]
            )
        out += [table(["job", "side", "jobs/s", "Dramatiq jobs/s", "ratio", "target", ""], rows), ""]
        out += [
            "Per job (median over rounds): Redis commands (script-internal ones included), Lua script calls and "
            "round trips (counted in the worker processes), CPU time of the worker processes and of redis-server "
            "in the steady window.",
            "",
        ]
        rows = []
        for work in dict.fromkeys(r.work for r in res.throughput):
            for label in dict.fromkeys(r.label for r in res.throughput):
                mine = [r for r in res.throughput if r.work == work and r.label == label]
                rows.append(
                    [
                        work,
                        label,
                        _median([r.commands_per_job for r in mine]),
                        _median([r.scripts_per_job for r in mine]),
                        _median([r.round_trips_per_job for r in mine]),
                        _median([r.worker_cpu_us_per_job for r in mine]),
                        _median([r.redis_cpu_us_per_job for r in mine]),
                    ]
                )
        out += [
            table(["job", "side", "commands", "script calls", "round trips", "worker CPU µs", "Redis CPU µs"], rows),
            "",
        ]
        out += [
            "All rounds (steady rate: from 10% to 90% of the backlog done; drain rate: first job done to last):",
            "",
        ]
        out += [
            table(
                ["round", "job", "side", "jobs", "processes x threads", "steady jobs/s", "drain jobs/s"],
                [
                    [r.round + 1, r.work, r.label, r.jobs, f"{r.processes} x {r.threads}", r.steady_rate, r.drain_rate]
                    for r in res.throughput
                ],
            ),
            "",
        ]
    if res.enqueue:
        one = next(e for e in res.enqueue if e.path == "gemsdash add_job")
        batch = next(e for e in res.enqueue if e.path == "gemsdash add_jobs")
        ratio = batch.rate / one.rate
        out += ["## 2. Enqueue", ""]
        out += [
            table(
                [
                    "path",
                    "batch",
                    "jobs/s",
                    "p50 ms per call",
                    "p99 ms per call",
                    "round trips per call",
                    "commands per job",
                ],
                [
                    [e.path, e.batch, e.rate, e.p50_ms, e.p99_ms, e.round_trips_per_call, e.commands_per_job]
                    for e in res.enqueue
                ],
            ),
            "",
        ]
        out += [
            f"Batch / one-by-one: **{ratio:.1f}x** (target >= {TARGET_BATCH}x: {verdict(ratio >= TARGET_BATCH)}).",
            "",
        ]
    if res.reads:
        out += ["## 3. Dashboard reads", ""]
        out += [
            table(
                ["tracked jobs", "read", "round trips", "Redis commands", "server µs", "wall p50 ms", "wall p99 ms"],
                [
                    [r.records, r.what, r.round_trips, r.commands, r.server_us, r.wall_p50_ms, r.wall_p99_ms]
                    for r in res.reads
                ],
            ),
            "",
        ]
        snaps = [r for r in res.reads if r.what == "queue_stats()"]
        one_rt = all(abs(r.round_trips - 1) < 0.01 for r in snaps)
        small, large = min(r.records for r in res.reads), max(r.records for r in res.reads)
        growth = []
        for what in dict.fromkeys(r.what for r in res.reads):
            a = next(r for r in res.reads if r.what == what and r.records == small)
            z = next(r for r in res.reads if r.what == what and r.records == large)
            growth.append(f"{what} {z.server_us / a.server_us:.2f}x server, {z.wall_p50_ms / a.wall_p50_ms:.2f}x wall")
        out += [
            f"One round trip per snapshot at every size: {verdict(one_rt)}. "
            f"At {large:,} tracked jobs vs {small:,}: " + "; ".join(growth) + ".",
            "",
        ]
    if res.memory:
        out += ["## 4. Memory per tracked job record (finished, small payload)", ""]
        out += [
            table(
                [
                    "records",
                    "Redis used_memory delta",
                    "bytes per record",
                    "record JSON bytes",
                    "MEMORY USAGE per record key",
                    "index bytes per record",
                ],
                [
                    [
                        m.records,
                        f"{m.used_memory_bytes / 2**20:,.1f} MiB",
                        m.bytes_per_record,
                        m.record_json_bytes,
                        m.record_key_bytes,
                        m.index_bytes_per_record,
                    ]
                    for m in res.memory
                ],
            ),
            "",
        ]
        first, last = res.memory[0], res.memory[-1]
        per_record = last.bytes_per_record
        if last.records > first.records:
            # What one more record costs, without the fixed keys (counters, scripts) every size includes.
            per_record = (last.used_memory_bytes - first.used_memory_bytes) / (last.records - first.records)
        out += [
            f"Bytes per added record from {first.records:,} to {last.records:,} records: {per_record:,.0f}. "
            f"Target under {TARGET_RECORD_BYTES} bytes per record: {verdict(per_record < TARGET_RECORD_BYTES)}.",
            "",
        ]
        worker_side = [r for r in res.throughput if r.side == "gemsdash" and r.record_json_bytes]
        if worker_side:
            out += [
                "The loaded records are the store's own (submit, start, finish); records that real workers finished "
                f"in section 1 measure the same: JSON {_median([r.record_json_bytes for r in worker_side]):,.0f} "
                f"bytes, MEMORY USAGE {_median([r.record_key_bytes for r in worker_side]):,.0f} bytes per key.",
                "",
            ]
    if res.expiry:
        e = res.expiry
        out += [f"### Expiry under steady load (REDIS_TTL={e.ttl} s, {e.rate} jobs/s)", ""]
        out += [
            table(
                ["second", "Redis used_memory", "job records in Redis", "jobs finished so far"],
                [
                    [f"{p.second:.0f}", f"{p.used_memory / 2**20:.1f} MiB", p.records, p.finished_total]
                    for i, p in enumerate(e.points)
                    # Every second while memory rises, then every fifth: the plateau needs no more rows.
                    if p.second <= 2 * e.ttl or i % 5 == 0 or i == len(e.points) - 1
                ],
            ),
            "",
        ]
        change = e.growth_after_first_ttls()
        out += [
            f"Memory change from {2 * e.ttl} s to the end: {change:+.1%} while the jobs finished grew "
            f"{_finished_growth(e):.1f}x: {verdict(abs(change) < 0.15)} (plateau).",
            "",
        ]
    if res.inprocess:
        out += ["## 5. Memory mode (one process, no Redis)", ""]
        rows = []
        for work in dict.fromkeys(str(r["work"]) for r in res.inprocess):
            runs = [r for r in res.inprocess if r["work"] == work]
            plain = _median([float(r["rate"]) for r in runs if r["side"] == "dramatiq"])
            for label in dict.fromkeys(str(r["label"]) for r in runs if r["side"] != "dramatiq"):
                rate = _median([float(r["rate"]) for r in runs if r["label"] == label])
                rows.append([work, label, rate, plain, f"{rate / plain:.2f}x"])
        out += [table(["job", "side", "jobs/s", "Dramatiq StubBroker jobs/s", "ratio"], rows), ""]
    if res.longest:
        out += [
            "## 6. Longest single Redis call (SLOWLOG; finished records loaded first)",
            "",
            f"While one call runs every other client of Redis waits. Goal: <= {GOAL_MS:.0f} ms each.",
            "",
        ]
        rows = [
            [c.action, c.records, c.logged, f"{c.mean_ms:.2f}", f"{c.longest_ms:.2f}", f"`{c.command}`", verdict(c.met)]
            for c in res.longest
        ]
        out += [
            table(["action", "records", "calls over 0.5 ms", "mean ms", "longest ms", "longest command", ""], rows),
            "",
        ]
    return "\n".join(out).rstrip() + "\n"


def _ratio_row(measure: str, plain: float, mine: float, goal: float, unit: str = "") -> list[object]:
    ratio = mine / plain if plain else float("nan")
    shown = [f"{plain:,.2f}{unit}", f"{mine:,.2f}{unit}", f"{ratio:.2f}x"]
    return [measure, *shown, f"<= {goal}x", verdict(ratio <= goal)]


def redis_cost(res: Results) -> list[str]:
    """Issue 19's table: what gemsdash costs Redis beside plain Dramatiq, from this one run."""
    rows: list[list[object]] = []

    def per_job(runs: list[Throughput], label: str, work: str, attr: str) -> float:
        return _median([getattr(r, attr) for r in runs if r.label == label and r.work == work])

    for label in dict.fromkeys(r.label for r in res.throughput if r.side != "dramatiq"):
        name = "" if label == "gemsdash" else f" ({label})"
        plain = per_job(res.throughput, "dramatiq", "noop", "commands_per_job")
        rows.append(
            _ratio_row(
                f"Redis commands per no-op job{name}",
                plain,
                per_job(res.throughput, label, "noop", "commands_per_job"),
                GOAL_COMMANDS_RATIO,
            )
        )
        for work in ("noop", "sleep10ms"):
            rows.append(
                _ratio_row(
                    f"Redis server CPU per {work} job{name}",
                    per_job(res.throughput, "dramatiq", work, "redis_cpu_us_per_job"),
                    per_job(res.throughput, label, work, "redis_cpu_us_per_job"),
                    GOAL_REDIS_CPU_RATIO,
                    " µs",
                )
            )
    if res.ceiling:
        plain_us = _median([r.redis_cpu_us_per_job for r in res.ceiling if r.side == "dramatiq"])
        mine_us = _median([r.redis_cpu_us_per_job for r in res.ceiling if r.side == "gemsdash"])
        ceiling = 1e6 / mine_us if mine_us else float("nan")
        rows.append(
            [
                "ceiling of one Redis core (1 s / Redis CPU per job), real emotion job",
                f"{1e6 / plain_us:,.0f} jobs/s" if plain_us else "n/a",
                f"{ceiling:,.0f} jobs/s",
                "",
                f">= {GOAL_CEILING_JOBS_S:,} jobs/s",
                verdict(ceiling >= GOAL_CEILING_JOBS_S),
            ]
        )

    def idle_median(label: str, attr: str) -> float:
        return _median([getattr(i, attr) for i in res.idle if i.label == label])

    idle_labels = list(dict.fromkeys(i.label for i in res.idle if i.side != "dramatiq"))
    has_plain_idle = any(i.side == "dramatiq" for i in res.idle)
    for label in idle_labels if has_plain_idle else []:
        name = "" if label == "gemsdash" else f" ({label})"
        rows.append(
            _ratio_row(
                f"Redis commands/s per idle worker process (4 threads){name}",
                idle_median("dramatiq", "commands_per_s"),
                idle_median(label, "commands_per_s"),
                GOAL_IDLE_RATIO,
            )
        )
        share = idle_median(label, "hundred_workers_share")
        rows.append(
            [
                f"Redis CPU of 100 idle workers (extrapolated){name}",
                f"{idle_median('dramatiq', 'hundred_workers_share'):.1%} of a core",
                f"{share:.1%} of a core",
                "",
                f"<= {GOAL_HUNDRED_IDLE_SHARE:.0%}",
                verdict(share <= GOAL_HUNDRED_IDLE_SHARE),
            ]
        )
    plain_wait = next((w for w in res.waiting if w.side == "dramatiq"), None)
    mine_wait = next((w for w in res.waiting if w.side == "gemsdash"), None)
    if plain_wait and mine_wait:
        rows.append(
            [
                "memory per waiting job (used_memory delta / jobs)",
                f"{plain_wait.bytes_per_job:,.0f} B",
                f"{mine_wait.bytes_per_job:,.0f} B",
                "",
                f"<= {GOAL_WAITING_BYTES} B",
                verdict(mine_wait.bytes_per_job <= GOAL_WAITING_BYTES),
            ]
        )
    if res.longest:
        worst = max(res.longest, key=lambda c: c.longest_ms)
        rows.append(
            [
                f"longest single Redis call from gemsdash ({worst.records:,} records; {len(res.longest)} actions, "
                "section 6)",
                "",
                f"{worst.longest_ms:.2f} ms ({worst.action})",
                "",
                f"<= {GOAL_MS:.0f} ms each",
                verdict(all(c.met for c in res.longest)),
            ]
        )
    noop_memory = [r for r in res.inprocess if r["work"] == "noop"]
    plain_memory = _median([float(r["rate"]) for r in noop_memory if r["side"] == "dramatiq"])
    for label in dict.fromkeys(str(r["label"]) for r in noop_memory if r["side"] != "dramatiq"):
        rate = _median([float(r["rate"]) for r in noop_memory if r["label"] == label])
        name = "" if label == "gemsdash" else f" ({label})"
        rows.append(
            [
                f"memory mode, no-op job, vs Dramatiq's StubBroker in one process{name} (jobs/s, section 5)",
                f"{plain_memory:,.0f}",
                f"{rate:,.0f}",
                f"{rate / plain_memory:.2f}x",
                f">= {GOAL_MEMORY_MODE_RATIO}x",
                verdict(rate / plain_memory >= GOAL_MEMORY_MODE_RATIO),
            ]
        )
    if not rows:
        return []
    out = ["## 0. Issue 19: what gemsdash costs, beside plain Dramatiq", ""]
    out += [table(["measure", "plain Dramatiq", "gemsdash", "ratio", "goal", ""], rows), ""]
    out += [
        "Commands, commands/s and bytes are counts and repeat from run to run; CPU figures (per job from /proc, "
        "idle from redis-server's own rusage) move with the machine's other load.",
        "",
    ]
    if res.ceiling:
        # The ceiling is an absolute figure, so the spread of its rounds says how near the goal it is.
        by_label = {
            label: ", ".join(f"{r.redis_cpu_us_per_job:.0f}" for r in res.ceiling if r.label == label)
            for label in dict.fromkeys(r.label for r in res.ceiling)
        }
        out += [
            "Ceiling, Redis CPU per job in each round (µs; plain Dramatiq's no-op, gemsdash's emotion job): "
            + "; ".join(f"{label} {rounds}" for label, rounds in by_label.items())
            + ".",
            "",
        ]
    if res.idle:
        first = res.idle[0]
        out += [
            f"Idle: {first.processes} idle worker processes measured at once for {first.seconds:.0f} s, Redis's "
            "baseline (no worker) measured before and after and taken out; per worker process, median of "
            f"{sum(1 for i in res.idle if i.label == first.label)} round(s) (see benchmarks/idle.py).",
            "",
        ]
        out += [
            "| side | requests/s | commands/s | Redis CPU per 100 workers (each round) | time inside requests, "
            "µs/s | baseline (% of a core) |",
            "|---|---|---|---|---|---|",
        ]
        for label in dict.fromkeys(i.label for i in res.idle):
            runs = [i for i in res.idle if i.label == label]
            shares = ", ".join(f"{i.hundred_workers_share:.1%}" for i in runs)
            bases = ", ".join(f"{i.baseline[0]:.2%}/{i.baseline[1]:.2%}" for i in runs)
            out.append(
                f"| {label} | {idle_median(label, 'requests_per_s'):.2f} | {idle_median(label, 'commands_per_s'):.2f} "
                f"| {shares} | {idle_median(label, 'command_us_per_s'):,.0f} | {bases} |"
            )
        out.append("")
        for label in idle_labels:
            counts = next(i for i in res.idle if i.label == label).commands
            top = ", ".join(f"{name} {n:.2f}" for name, n in list(counts.items())[:9])
            out += [f"An idle {label} worker's commands per second: {top}.", ""]
    if mine_wait:
        record = (
            f"record JSON {mine_wait.record_bytes:,.0f} B (MEMORY USAGE of its key {mine_wait.record_key_bytes:,.0f} B)"
            if mine_wait.records
            else "no record (it waits as its message alone)"
        )
        out += [
            f"A waiting gemsdash job: {record} ({mine_wait.records:,} records in Redis after {mine_wait.jobs:,} "
            f"jobs), Dramatiq message {mine_wait.message_bytes:,.0f} B; plain "
            f"Dramatiq's message {plain_wait.message_bytes if plain_wait else float('nan'):,.0f} B.",
            "",
        ]
    return out


def _finished_growth(e: Expiry) -> float:
    settled = [p for p in e.points if p.second >= 2 * e.ttl]
    if len(settled) < 2 or not settled[0].finished_total:
        return float("nan")
    return settled[-1].finished_total / settled[0].finished_total
