"""The `gemsdash` command: the one composition root.

It reads settings, configures the broker and store (the runtime) for the command's role, imports
the actors when jobs may run in this process, and then starts the dashboard, a worker, the HTTP
server or a one-shot command. Exit codes: 0 ok, 1 not found or failed, 2 usage, config or
connection error.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from typing import Any, NoReturn

from gemsdash import __version__
from gemsdash.queue import (
    QUEUES,
    STATES,
    GemsdashError,
    JobNotFound,
    JobRecord,
    JobState,
    JobType,
    MemoryModeUnsupported,
    Priority,
    Runtime,
    Schedule,
    Settings,
    admin,
    clock,
    configure,
    load_settings,
    mask_payload,
    producer,
    scheduling,
    stats,
)
from gemsdash.queue import registry as job_types
from gemsdash.queue.admission import message_limit
from gemsdash.queue.eviction import check_eviction_policy
from gemsdash.queue.runtime import current_runtime
from gemsdash.queue.visible import valid_unicode, visible

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: How long `gemsdash worker`'s main process waits for its children to boot (see run_worker).
WORKER_FORK_TIMEOUT_MS = 1000

MEMORY_MODE_HINT = (
    "{command} needs Redis: in memory mode jobs live inside one process (the dashboard's). "
    "Set REDIS_ENABLED=true (and REDIS_URL or REDIS_HOST/REDIS_PORT) to share jobs between processes."
)


class UsageError(GemsdashError):
    exit_code = EXIT_USAGE


class Parser(argparse.ArgumentParser):
    """argparse, whose usage errors are raised (so that `--json` gets them as JSON) rather than
    printed and exited on. What it repeats of the arguments ("unrecognized arguments: ...") is made
    terminal-safe where the error is printed (emit_error), like every other error line."""

    def error(self, message: str) -> NoReturn:
        if message.endswith("expected one argument"):
            # `--payload -1e+16`: argparse takes a value starting with `-` for the next option.
            message += " (a value starting with - is written --option=VALUE)"
        raise UsageError(f"{self.prog}: {message}")


def _port(value: str) -> int:
    """A TCP port, 0 for any free one: uvicorn raised OverflowError (a traceback) for 70000."""
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port: {port} (0..65535)")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="gemsdash",
        description="Job processing on Dramatiq with a terminal dashboard. With no command: the dashboard.",
    )
    parser.add_argument("--version", action="version", version=f"gemsdash {__version__}")
    parser.add_argument("--demo", action="store_true", help="keep feeding a mix of jobs so every state shows")
    parser.add_argument("--read-only", action="store_true", help="hide and refuse every changing action")
    parser.add_argument("--refresh", type=float, default=1.0, metavar="SECONDS", help="refresh interval (default 1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    worker = sub.add_parser("worker", help="run Dramatiq worker processes for all job types (needs Redis)")
    worker.add_argument("--processes", "-p", type=int, default=None, help="worker processes (default: CPU count)")
    worker.add_argument("--threads", "-t", type=int, default=None, help="threads per process (default 8)")
    worker.add_argument("--queues", "-Q", nargs="+", choices=QUEUES, help="only these job types")
    worker.add_argument("--shard", default=None, help="serve this shard of GEMSDASH_SHARDS (default: the default one)")

    enqueue = sub.add_parser("enqueue", help="enqueue a job and print its id")
    enqueue.add_argument("type", choices=[t.value for t in JobType])
    enqueue.add_argument(
        "--payload",
        required=True,
        metavar="JSON|@FILE|-",
        help="the payload as a JSON object; @FILE reads it from a file and - from standard input, "
        "which keeps it out of the process list",
    )
    enqueue.add_argument("--priority", choices=[p.value for p in Priority])
    enqueue.add_argument("--delay-ms", type=int, default=None)
    enqueue.add_argument(
        "--at", metavar="ISO-8601", help="run at this time, with its timezone (2026-12-24T08:00:00+01:00 or ...Z)"
    )
    enqueue.add_argument("--attempts", type=int, default=None)
    _add_backoff_arguments(enqueue)

    sub.add_parser("stats", help="per-queue counts by state")

    jobs = sub.add_parser("jobs", help="list a queue's jobs, newest first")
    jobs.add_argument("queue", choices=QUEUES)
    jobs.add_argument("--state", choices=[s.value for s in STATES])
    jobs.add_argument("--priority", choices=[p.value for p in Priority], help="only jobs of this priority")
    jobs.add_argument("--limit", type=int, default=20)
    jobs.add_argument("--offset", type=int, default=0)
    jobs.add_argument(
        "--search",
        default="",
        help="job id prefix, text in the error, or part of the payload's idempotency_key, payment_id, user_id or to",
    )

    job = sub.add_parser("job", help="one job's record")
    job.add_argument("id")

    retry = sub.add_parser("retry", help="retry a dead or cancelled job, or --all dead jobs of --queue")
    retry.add_argument("id", nargs="?")
    retry.add_argument("--queue", choices=QUEUES)
    retry.add_argument("--all", action="store_true")

    cancel = sub.add_parser("cancel", help="cancel a queued, delayed or retrying job")
    cancel.add_argument("id")

    clear = sub.add_parser("clear", help="remove a queue's waiting jobs (running ones finish)")
    clear.add_argument("queue", choices=QUEUES)
    clear.add_argument("--include-dead", action="store_true", help="also delete its dead jobs")
    clear.add_argument("--yes", action="store_true", help="confirm: nothing is cleared without it")

    delete = sub.add_parser("delete", help="remove a dead or cancelled job for good")
    delete.add_argument("id")
    run_now = sub.add_parser("run-now", help="run a delayed or retrying job now instead of at its time")
    run_now.add_argument("id")
    abort = sub.add_parser("abort", help="stop a running job: it ends cancelled, not retried")
    abort.add_argument("id")

    pause = sub.add_parser("pause", help="workers take no job of QUEUE (any priority) until resumed")
    pause.add_argument("queue", choices=QUEUES)
    resume = sub.add_parser("resume", help="workers take QUEUE's jobs again")
    resume.add_argument("queue", choices=QUEUES)

    sub.add_parser("health", help="every problem, one a line; exit 0 when healthy, 1 when there is any")

    audit = sub.add_parser("audit", help="the audit log of retries, cancels and clears")
    audit.add_argument("--limit", type=int, default=50)

    schedule_commands = add_schedule_parser(sub)

    serve = sub.add_parser("serve", help="the HTTP monitoring API and Prometheus metrics")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=3001)

    for command in (
        enqueue,
        sub.choices["stats"],
        jobs,
        job,
        retry,
        cancel,
        clear,
        delete,
        run_now,
        abort,
        pause,
        resume,
        sub.choices["health"],
        audit,
        *schedule_commands,
    ):
        command.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def add_schedule_parser(sub: Any) -> list[argparse.ArgumentParser]:
    schedule = sub.add_parser("schedule", help="cron-like and repeating jobs, fired by the workers")
    actions = schedule.add_subparsers(dest="schedule_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a schedule: NAME (--cron EXPR | --every DURATION) TYPE --payload ...")
    add.add_argument("name")
    rule = add.add_mutually_exclusive_group(required=True)
    rule.add_argument("--cron", metavar="EXPR", help='five fields, e.g. "0 8 * * *" (in --timezone)')
    rule.add_argument("--every", metavar="DURATION", help="an interval: 30s, 5m, 1h, 1h30m, 1d")
    add.add_argument("type", choices=[t.value for t in JobType])
    add.add_argument("--payload", required=True, metavar="JSON|@FILE|-", help="as for enqueue")
    add.add_argument("--timezone", default="UTC", help="the cron rule's IANA timezone (default UTC)")
    add.add_argument(
        "--catch-up",
        type=int,
        default=0,
        metavar="N",
        help="after downtime, fire up to N missed ticks (default 0: the missed ticks fire once)",
    )
    add.add_argument("--priority", choices=[p.value for p in Priority])
    add.add_argument("--attempts", type=int, default=None)
    _add_backoff_arguments(add)
    commands = [add, actions.add_parser("list", help="every schedule with its next and last run")]
    for action, text in (
        ("remove", "remove a schedule (its jobs stay)"),
        ("pause", "stop firing a schedule"),
        ("resume", "fire a paused schedule again, from its next tick"),
        ("run", "enqueue a schedule's job now"),
    ):
        command = actions.add_parser(action, help=text)
        command.add_argument("name")
        commands.append(command)
    return commands


# -- output -------------------------------------------------------------------------------------


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """JSON is exact (the encoder escapes control characters); text is made safe for a terminal
    as a whole, on top of the one-line escaping of each listed value."""
    print(json.dumps(data, indent=2, default=str) if getattr(args, "json", False) else visible(text, multiline=True))


def emit_error(as_json: bool, message: str, code: int) -> None:
    """An error: with --json, `{"error", "code"}` on stdout (a script reads one stream); else one
    line on stderr."""
    if as_json:
        print(json.dumps({"error": message, "code": code}, indent=2))
    else:
        print(f"gemsdash: {visible(message)}", file=sys.stderr)


def iso_ms(value: Any) -> Any:
    """Epoch milliseconds (as the audit log stores them) as ISO 8601 UTC; anything else as given."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC).isoformat()
    return value


def age(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    seconds = max((datetime.now(UTC) - moment).total_seconds(), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def record_json(record: JobRecord) -> dict[str, Any]:
    data = record.public_dict()
    data["payload"] = mask_payload(data["payload"])
    return data


def record_text(record: JobRecord) -> str:
    data = record_json(record)
    lines = [f"{k:>15}: {visible(str(data[k]))}" for k in ("id", "type", "queue", "state", "priority", "worker")]
    lines.append(f"{'attempts':>15}: {record.attempts}/{record.max_attempts}")
    for key in ("created_at", "started_at", "finished_at", "next_attempt_at"):
        if data[key]:
            lines.append(f"{key:>15}: {data[key]}")
    if record.duration_ms is not None:
        lines.append(f"{'duration':>15}: {record.duration_ms} ms")
    lines.append(f"{'payload':>15}: {json.dumps(data['payload'])}")
    if record.result is not None:
        lines.append(f"{'result':>15}: {json.dumps(record.result, default=str)}")
    if record.error is not None:
        lines.append(f"{'error':>15}: {visible(record.error.type)}: {visible(record.error.message, multiline=True)}")
        if record.error.traceback:
            lines.append(visible(record.error.traceback.rstrip(), multiline=True))
    lines.append(f"{'timeline':>15}:")
    lines.extend(
        f"{'':>17}{e.at.isoformat()}  {e.state.value}{'  ' + visible(e.note) if e.note else ''}"
        for e in record.timeline
    )
    return "\n".join(lines)


# -- commands -----------------------------------------------------------------------------------


def _payload_text(value: str, limit: int) -> str:
    """The payload's text, read no further than `limit` characters: `@/dev/zero` grew without end
    and an endless stdin ended in MemoryError."""
    if value == "-":
        text = _stdin_text(limit)
    elif value.startswith("@"):
        try:
            with open(value[1:], encoding="utf-8") as file:
                text = file.read(limit + 1)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise UsageError(f"--payload {value}: cannot read the file: {reason}") from None
    else:
        text = value
    if len(text) > limit:
        raise UsageError(f"--payload is larger than {limit} characters")
    return text


def _stdin_text(limit: int) -> str:
    """`--payload -`: the payload piped in. A terminal is refused rather than waited on: a `-` that
    was meant as the payload itself (from a script's variable) must not hang on a read nobody feeds."""
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("--payload -: reads the payload from standard input, which is a terminal: pipe it in")
    try:
        return sys.stdin.read(limit + 1)
    except (OSError, UnicodeDecodeError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise UsageError(f"--payload -: cannot read standard input: {reason}") from None


def _payload(value: str) -> Any:
    try:
        return json.loads(_payload_text(value, message_limit(current_runtime().settings.max_payload_bytes)))
    except json.JSONDecodeError as exc:
        raise UsageError(f"--payload is not valid JSON: {exc.msg} at position {exc.pos}") from None
    except (ValueError, RecursionError) as exc:  # e.g. a 5,000-digit integer, or [[[[... nested too deep
        raise UsageError(f"--payload cannot be read: {str(exc).splitlines()[0][:200]}") from None


def _add_backoff_arguments(parser: argparse.ArgumentParser) -> None:
    """The retry backoff options `enqueue` and `schedule add` share (read back by `_backoff`)."""
    parser.add_argument("--backoff", choices=["exponential", "fixed"])
    parser.add_argument("--backoff-delay-ms", type=int, default=None)
    parser.add_argument(
        "--backoff-jitter",
        type=float,
        default=None,
        metavar="FRACTION",
        help="0-1: each retry waits a random time in [(1 - FRACTION) x wait, wait]; none unless given",
    )


def _backoff(args: argparse.Namespace) -> dict[str, Any] | None:
    if not (args.backoff or args.backoff_delay_ms is not None or args.backoff_jitter is not None):
        return None
    backoff: dict[str, Any] = {"type": args.backoff or "exponential"}
    if args.backoff_delay_ms is not None:
        backoff["delay"] = args.backoff_delay_ms
    if args.backoff_jitter is not None:
        backoff["jitter"] = args.backoff_jitter
    return backoff


def delay_until(text: str, now: datetime | None = None) -> int:
    """`enqueue --at`: the delay in ms until an ISO-8601 time that names its timezone."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--at {text!r}: not an ISO-8601 time (e.g. 2026-12-24T08:00:00+01:00)") from None
    if moment.tzinfo is None:
        raise UsageError(f"--at {text!r}: add a timezone (Z or +HH:MM); a time without one is ambiguous")
    # Redis's clock (this host's plus the measured offset), which the record's due time is on.
    now_ms = int(now.timestamp() * 1000) if now is not None else clock.now_ms()
    delay = int(moment.timestamp() * 1000) - now_ms
    if delay < 0:
        raise UsageError(f"--at {text!r} is in the past; to run the job now, leave --at out")
    return delay


def cmd_enqueue(args: argparse.Namespace) -> int:
    payload = _payload(args.payload)
    delay = args.delay_ms
    if args.at is not None:
        if delay is not None:
            raise UsageError("use either --at or --delay-ms, not both")
        delay = delay_until(args.at)
    job_id = producer.add_job(
        args.type, payload, priority=args.priority, delay=delay, attempts=args.attempts, backoff=_backoff(args)
    )
    emit(args, {"id": job_id}, job_id)
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    data = stats.stats_json()
    header = f"{'queue':<20}" + "".join(f"{s.value:>11}" for s in STATES)
    rows = [
        f"{q:<20}"
        + ("".join(f"{counts[s.value]:>11}" for s in STATES) if counts else f"  unavailable: {data['unavailable'][q]}")
        for q, counts in data["queues"].items()
    ]
    mode = data["mode"] + (f" (fallback: {data['fallback_reason']})" if data["fallback_reason"] else "")
    shards = data.get("shards", {})
    down = [f"{name} DOWN" for name, shard in shards.items() if not shard["up"]]
    mode += f"   shards: {len(shards) - len(down)} up" + "".join(f", {d}" for d in down) if shards else ""
    paused = f"   paused: {', '.join(data['paused'])}" if data.get("paused") else ""
    emit(args, data, "\n".join([f"mode: {mode}   workers: {data['workers']}{paused}", header, *rows]))
    return EXIT_OK


def cmd_jobs(args: argparse.Namespace) -> int:
    page = stats.list_jobs(args.queue, args.state, args.limit, args.offset, args.search, priority=args.priority or "")
    rows = [
        f"{visible(j.id)}  {j.state.value:<10}{j.priority.value:<9}"
        f"{j.attempts:>2}/{j.max_attempts:<3}{age(j.created_at):>6}  "
        + (visible(f"{j.error.type}: {j.error.message}")[:60] if j.error else "")
        for j in page.jobs
    ]
    text = "\n".join([*rows, f"({len(page.jobs)} of {page.total}, offset {page.offset})"])
    emit(args, {"total": page.total, "offset": page.offset, "jobs": [record_json(j) for j in page.jobs]}, text)
    return EXIT_OK


def cmd_job(args: argparse.Namespace) -> int:
    record = stats.get_job(args.id)
    if record is None:
        raise JobNotFound(args.id)
    logs = stats.job_logs(record.id)
    text = record_text(record)
    if logs:
        text += "\n" + f"{'logs':>15}:" + "".join(f"\n{'':>17}{visible(line)}" for line in logs)
    emit(args, {**record_json(record), "logs": logs}, text)
    return EXIT_OK


def cmd_retry(args: argparse.Namespace) -> int:
    if args.all:
        if not args.queue or args.id:
            raise UsageError("use either `retry ID` or `retry --queue QUEUE --all`")
        count = admin.retry_all(args.queue)
        emit(args, {"queue": args.queue, "retried": count}, f"retried {count} dead job(s) of {args.queue}")
        return EXIT_OK
    if not args.id:
        raise UsageError("retry needs a job id, or --queue QUEUE --all")
    job_id = admin.retry(args.id)
    emit(args, {"id": job_id, "state": JobState.QUEUED.value}, f"{job_id} queued again")
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    job_id = admin.cancel(args.id)
    emit(args, {"id": job_id, "state": JobState.CANCELLED.value}, f"{job_id} cancelled")
    return EXIT_OK


def cmd_clear(args: argparse.Namespace) -> int:
    if not args.yes:
        raise UsageError(f"clear removes every waiting job of {args.queue}; add --yes to confirm")
    result = admin.clear(args.queue, include_dead=args.include_dead)
    detail = ", ".join(f"{n} {state}" for state, n in result.removed.items())
    emit(args, {"queue": args.queue, "removed": result.removed}, f"cleared {args.queue}: {detail}")
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    job_id = admin.delete(args.id)
    emit(args, {"id": job_id, "deleted": True}, f"{job_id} deleted")
    return EXIT_OK


def cmd_run_now(args: argparse.Namespace) -> int:
    job_id = admin.run_now(args.id)
    emit(args, {"id": job_id, "state": JobState.QUEUED.value}, f"{job_id} queued to run now")
    return EXIT_OK


def cmd_abort(args: argparse.Namespace) -> int:
    job_id = admin.abort(args.id)
    text = f"{job_id}: abort requested; its worker stops it within about a second (`gemsdash job {job_id[:8]}`)"
    emit(args, {"id": job_id, "abort": "requested"}, text)
    return EXIT_OK


def cmd_pause(args: argparse.Namespace) -> int:
    changed = admin.pause(args.queue)
    text = f"{args.queue} paused: workers take none of its jobs until `gemsdash resume {args.queue}`"
    emit(
        args,
        {"queue": args.queue, "paused": True, "changed": changed},
        text if changed else f"{args.queue} was already paused",
    )
    return EXIT_OK


def cmd_resume(args: argparse.Namespace) -> int:
    changed = admin.resume(args.queue)
    text = f"{args.queue} resumed" if changed else f"{args.queue} was not paused"
    emit(args, {"queue": args.queue, "paused": False, "changed": changed}, text)
    return EXIT_OK


def cmd_health(args: argparse.Namespace) -> int:
    report = stats.health()
    if report.healthy:
        text = f"healthy ({report.mode} mode)"
    else:
        lines = [f"  {p.kind}{f' [{p.queue}]' if p.queue else ''}: {p.detail}" for p in report.problems]
        text = "\n".join([f"unhealthy ({report.mode} mode):", *lines])
    emit(args, report.as_json(), text)
    return EXIT_OK if report.healthy else EXIT_FAILED


def cmd_audit(args: argparse.Namespace) -> int:
    entries = [{**e, "at": iso_ms(e.get("at"))} for e in admin.audit_log(args.limit)]
    rows = [
        f"{e['at']}  {visible(str(e.get('action', '?'))):<16}{visible(str(e.get('target', ''))):<40}"
        f"{visible(str(e.get('count', ''))):>6}  {visible(str(e.get('by', '')))}"
        for e in entries
    ]
    emit(args, entries, "\n".join(rows) or "(no admin actions yet)")
    return EXIT_OK


def schedule_row(s: Schedule) -> str:
    now = datetime.now(UTC)
    next_run = "paused" if s.paused else (f"in {until(s.next_run_at, now)}" if s.next_run_at else "never")
    last = "-"
    if s.last_run_at is not None:
        state = s.last_job_state.value if s.last_job_state else "expired"
        last = f"{age(s.last_run_at)} ago  {s.last_job_id}  {state}"
    return f"{s.name:<24}{s.type.value:<20}{s.rule:<32}{next_run:<12}{last}"


def until(moment: datetime, now: datetime) -> str:
    seconds = max((moment - now).total_seconds(), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def cmd_schedule(args: argparse.Namespace) -> int:
    action = args.schedule_command
    if action == "add":
        schedule = scheduling.add_schedule(
            args.name,
            args.type,
            _payload(args.payload),
            cron=args.cron,
            every=args.every,
            timezone=args.timezone,
            priority=args.priority,
            attempts=args.attempts,
            backoff=_backoff(args),
            catch_up=args.catch_up,
        )
        emit(args, schedule_json(schedule), f"added {schedule.name}: {schedule.rule}; next run {schedule.next_run_at}")
    elif action == "list":
        found = scheduling.list_schedules()
        header = f"{'name':<24}{'type':<20}{'rule':<32}{'next run':<12}last run"
        text = "\n".join([header, *(schedule_row(s) for s in found)]) if found else "(no schedules)"
        emit(args, [schedule_json(s) for s in found], text)
    elif action == "remove":
        scheduling.remove_schedule(args.name)
        emit(args, {"name": args.name, "removed": True}, f"removed {args.name}")
    elif action in ("pause", "resume"):
        change = scheduling.pause_schedule if action == "pause" else scheduling.resume_schedule
        schedule = change(args.name)
        emit(args, schedule_json(schedule), f"{args.name} {'paused' if schedule.paused else 'resumed'}")
    else:
        job_id = scheduling.run_schedule(args.name)
        emit(args, {"name": args.name, "id": job_id}, job_id)
    return EXIT_OK


def schedule_json(schedule: Schedule) -> dict[str, Any]:
    data = schedule.public_dict()
    data["payload"] = mask_payload(data["payload"])
    return data


ONE_SHOT: dict[str, Callable[[argparse.Namespace], int]] = {
    "enqueue": cmd_enqueue,
    "stats": cmd_stats,
    "jobs": cmd_jobs,
    "job": cmd_job,
    "retry": cmd_retry,
    "cancel": cmd_cancel,
    "clear": cmd_clear,
    "delete": cmd_delete,
    "abort": cmd_abort,
    "run-now": cmd_run_now,
    "pause": cmd_pause,
    "resume": cmd_resume,
    "health": cmd_health,
    "audit": cmd_audit,
    "schedule": cmd_schedule,
}
NEEDS_SHARED_STATE = set(ONE_SHOT)
HEALTH_IN_MEMORY_MODE = (
    "`gemsdash health` cannot see the dashboard's jobs in memory mode: they live inside the dashboard's "
    "own process, so no other process can tell whether they are healthy. Set REDIS_ENABLED=true (and "
    "REDIS_URL or REDIS_HOST/REDIS_PORT) to share jobs between processes."
)
#: One-shot commands that write to Redis: they refuse a Redis that may evict keys.
WRITES = {"enqueue", "retry", "cancel", "clear", "delete", "run-now", "abort", "pause", "resume"}


def run_one_shot(args: argparse.Namespace, settings: Settings) -> int:
    runtime = configure(settings, role="oneshot")
    if runtime.mode == "memory" and args.command == "health":
        raise MemoryModeUnsupported(HEALTH_IN_MEMORY_MODE)
    if runtime.mode == "memory" and args.command in NEEDS_SHARED_STATE:
        raise MemoryModeUnsupported(MEMORY_MODE_HINT.format(command=f"`gemsdash {args.command}`"))
    if runtime.client is not None and args.command in WRITES:
        check_eviction_policy(runtime.client, settings)
    return ONE_SHOT[args.command](args)


def run_worker(args: argparse.Namespace, settings: Settings) -> int:
    """A thin wrapper over Dramatiq's own worker command (`dramatiq gemsdash.actors`)."""
    if not settings.redis_enabled:
        raise MemoryModeUnsupported(
            "`gemsdash worker` needs Redis: set REDIS_ENABLED=true. (In memory mode the dashboard runs jobs itself.)"
        )
    if args.shard is not None:
        settings.on_shard(args.shard)  # one line naming the shards when there is no such shard
        settings = settings.model_copy(update={"shard": args.shard})
        os.environ["GEMSDASH_SHARD"] = args.shard  # Dramatiq's process reads its settings from the environment
    served = settings.shard_queues(settings.shard)
    if args.queues and settings.shards and not set(args.queues) <= set(served):
        raise UsageError(f"--queues: shard {settings.shard!r} holds only {', '.join(served) or 'no job type'}")
    configure(settings, role="worker")  # fails fast, with one line (naming the shard), when Redis is unreachable
    check_job_configuration()
    # Dramatiq's main process waits up to --worker-fork-timeout (30 s by default) for each child
    # to boot before it watches them: a child killed while booting went unnoticed that long. It
    # starts no fork processes for gemsdash, so it need not wait: then a dead child is noticed
    # within about 2 s, and the group stops for its supervisor to restart it (docs/operations.md).
    argv = [sys.executable, "-m", "dramatiq", "gemsdash.actors", "--worker-fork-timeout", str(WORKER_FORK_TIMEOUT_MS)]
    if args.processes:
        argv += ["--processes", str(args.processes)]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    chosen = args.queues or (served if settings.shards else None)
    if chosen:
        from gemsdash.queue.messages import physical_queues

        argv += ["--queues", *[rq for q in chosen for rq in physical_queues(q)]]
    sys.stdout.flush()
    os.execv(sys.executable, argv)
    return EXIT_OK  # pragma: no cover - execv does not return


def check_job_configuration() -> None:
    """Declare the actors and resolve each job type's configured implementation now, so a bad
    setting stops the process at start-up with one line instead of failing its first jobs."""
    from gemsdash.actors.settings import check_configuration

    check_configuration()


def start_host(settings: Settings) -> Runtime:
    """Configure a long-lived process that may fall back to memory, and run jobs here in memory mode."""
    runtime = configure(settings, role="host")
    check_job_configuration()

    if runtime.mode == "memory":
        runtime.start_worker()
    return runtime


def run_dashboard(args: argparse.Namespace, settings: Settings) -> int:
    runtime = start_host(settings)
    try:
        from gemsdash.app import GemsdashApp

        GemsdashApp(refresh_interval=args.refresh, read_only=args.read_only or settings.read_only, demo=args.demo).run()
    finally:
        runtime.stop_worker()
    return EXIT_OK


def run_server(args: argparse.Namespace, settings: Settings) -> int:
    runtime = start_host(settings)
    try:
        from gemsdash.http import serve

        serve(args.host, args.port)
    finally:
        runtime.stop_worker()
    return EXIT_OK


def check_text_arguments(args: argparse.Namespace) -> None:
    """Bytes that are not UTF-8 on the command line reach Python as lone surrogates, which Redis
    (and the terminal) cannot take: one line instead of a traceback from deep inside redis-py."""
    for name, value in vars(args).items():
        if isinstance(value, str) and not valid_unicode(value):
            raise UsageError(f"{name}: not valid text (bytes that are not UTF-8)")


def configure_logging(command: str | None) -> None:
    # The dashboard owns the terminal: its process logs to a file so log lines cannot tear the screen.
    if command is None:
        os.makedirs(".gemsdash", exist_ok=True)
        # Rotated: a dashboard left running with the demo feed logs every job for days.
        log_file = RotatingFileHandler(
            os.path.join(".gemsdash", "gemsdash.log"), maxBytes=5 * 1024 * 1024, backupCount=2
        )
        logging.basicConfig(
            handlers=[log_file], level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        # Still say it on the terminal when the mode is a fallback: never silent.
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.WARNING)
        logging.getLogger("gemsdash").addHandler(console)
    else:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, where a closed pipe is caught, rather than at exit
        return code
    except BrokenPipeError:
        # The reader went away (`gemsdash jobs Q --json | head -c 100`): end quietly, and keep
        # Python from reporting the failed flush of stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _main(argv: list[str]) -> int:
    as_json = "--json" in argv
    try:
        job_types.load()  # the parser lists them; a broken plugin is one line, like any config error
    except GemsdashError as exc:
        emit_error(as_json, str(exc), exc.exit_code)
        return exc.exit_code
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        emit_error(as_json, str(exc), exc.exit_code)  # one line: argparse's usage would add several
        return exc.exit_code
    configure_logging(args.command)
    try:
        check_text_arguments(args)
        settings = load_settings(**({"read_only": True} if args.read_only else {}))
        if args.command is None:
            if not 0 < args.refresh < math.inf:  # nan and inf: a dashboard that never refreshed
                raise UsageError("--refresh must be positive and finite")
            return run_dashboard(args, settings)
        if args.command == "worker":
            return run_worker(args, settings)
        if args.command == "serve":
            return run_server(args, settings)
        return run_one_shot(args, settings)
    except GemsdashError as exc:
        emit_error(getattr(args, "json", False), str(exc), exc.exit_code)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
