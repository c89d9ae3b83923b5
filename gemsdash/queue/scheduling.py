"""Adding, listing, pausing, resuming, running and removing schedules: the functions behind the
CLI, the dashboard and the HTTP API. Every change is one atomic store write with its audit entry."""

from __future__ import annotations

import json
from typing import Any

from gemsdash.queue.admin import _audit_entry, _writable
from gemsdash.queue.errors import GemsdashError
from gemsdash.queue.jobs import Backoff, JobType, Priority
from gemsdash.queue.producer import JobRequest, prepare
from gemsdash.queue.runtime import current_runtime
from gemsdash.queue.schedules import (
    MAX_SCHEDULES,
    Rule,
    Schedule,
    ScheduleExists,
    ScheduleNotFound,
    decode_schedule,
    definition,
    rule_of,
    tick_submission,
)
from gemsdash.queue.sharding import by_job_type, by_schedule, gathered
from gemsdash.queue.store import StoredSchedule, Verdict


@by_job_type
def add_schedule(
    name: str,
    job_type: JobType | str,
    payload: dict[str, Any] | Any,
    *,
    cron: str | None = None,
    every: str | int | None = None,
    timezone: str | None = None,
    priority: Priority | str | None = None,
    attempts: int | None = None,
    backoff: Backoff | dict[str, Any] | None = None,
    catch_up: int = 0,
) -> Schedule:
    """Create a schedule: `cron` (five fields, in `timezone`, default UTC) or `every` (`"30s"`,
    `"5m"`, `"1h"`, or ms). The payload and options are validated as `add_job` validates them
    (InvalidPayload names each wrong field); nothing is stored unless all of it is valid."""
    _writable("schedule add")
    rule = Rule.parse(cron, every, timezone)
    runtime = current_runtime()
    limit = runtime.settings.max_payload_bytes
    prepared = prepare(JobRequest(job_type, payload, priority, None, attempts, backoff), limit)
    spec = definition(
        name,
        job_type,
        json.loads(prepared.record["payload"]),
        rule,
        priority=priority,
        attempts=attempts,
        backoff=backoff,
        catch_up=catch_up,
        created_ms=0,
    )
    store = runtime.store
    clock, existing = store.schedule_list(name)
    if existing:
        raise ScheduleExists(name)
    spec["created_at"] = clock
    entry = _audit_entry("schedule-add", name, 1, type=spec["type"], rule=rule.text())
    verdict = store.schedule_add(name, json.dumps(spec, separators=(",", ":")), spec["gen"], rule.after(clock), entry)
    if verdict is Verdict.EXISTS:
        raise ScheduleExists(name)
    if verdict is Verdict.FULL:
        raise GemsdashError(f"cannot add schedule {name!r}: the store holds {MAX_SCHEDULES} schedules already")
    return get_schedule(name)


def list_schedules() -> list[Schedule]:
    """Every schedule (of every shard), by creation; with its next run, last run and that job's state."""
    found = gathered(lambda runtime: runtime.store.schedule_list()[1])
    return sorted((decode_schedule(s) for s in found), key=lambda s: s.created_at)


@by_schedule
def get_schedule(name: str) -> Schedule:
    return decode_schedule(_stored(name))


def _stored(name: str) -> StoredSchedule:
    _, found = current_runtime().store.schedule_list(name)
    if not found:
        raise ScheduleNotFound(name)
    return found[0]


@by_schedule
def remove_schedule(name: str) -> None:
    """Remove a schedule; jobs it enqueued already are left alone."""
    _writable("schedule remove")
    if current_runtime().store.schedule_remove(name, _audit_entry("schedule-remove", name, 1)) is Verdict.MISSING:
        raise ScheduleNotFound(name)


@by_schedule
def pause_schedule(name: str) -> Schedule:
    """Stop firing; the ticks that pass while paused get no job, and are not caught up later."""
    _writable("schedule pause")
    if current_runtime().store.schedule_pause(name, _audit_entry("schedule-pause", name, 1)) is Verdict.MISSING:
        raise ScheduleNotFound(name)
    return get_schedule(name)


@by_schedule
def resume_schedule(name: str) -> Schedule:
    """Fire again, from the rule's next tick after now (by the store's clock)."""
    _writable("schedule resume")
    store = current_runtime().store
    clock, found = store.schedule_list(name)
    if not found:
        raise ScheduleNotFound(name)
    spec = json.loads(found[0]["definition"])
    following = rule_of(spec).after(clock)
    verdict = store.schedule_resume(name, spec["gen"], following, _audit_entry("schedule-resume", name, 1))
    if verdict is Verdict.MISSING:
        raise ScheduleNotFound(name)
    return get_schedule(name)


@by_schedule
def run_schedule(name: str) -> str:
    """Enqueue the schedule's job now, outside its rule (its next run is unchanged); returns the
    job id. Works on a paused schedule too."""
    _writable("schedule run")
    runtime = current_runtime()
    store = runtime.store
    clock, found = store.schedule_list(name)
    if not found:
        raise ScheduleNotFound(name)
    spec = json.loads(found[0]["definition"])
    sub = tick_submission(spec, clock, runtime.settings.max_payload_bytes)
    job_id: str = sub.record["id"]
    entry = _audit_entry("schedule-run", name, 1, job=job_id)
    if store.schedule_run(name, spec["gen"], sub, clock, entry) is not Verdict.OK:
        raise ScheduleNotFound(name)
    return job_id
