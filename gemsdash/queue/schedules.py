"""Schedules: a job enqueued on a cron rule or every fixed interval, fired by the workers.

Each tick enqueues exactly one job, however many worker processes fire schedules: the store claims
the tick and enqueues its job in one atomic write that only goes through while the schedule still
holds the next-run time the firer read (`JobStore.schedule_fire`), and only once the store's clock
(Redis's `TIME`) has reached it. The cron arithmetic stays here, in Python: the firer computes the
ticks that are due and the one after them; the store compares and sets.

After downtime the missed ticks fire once (one job, for the latest of them), not once each; a
schedule with `catch_up` N fires up to N of them (the latest N), each its own job.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import BaseModel, ConfigDict

from gemsdash.queue import clock
from gemsdash.queue.errors import BackendUnavailable, GemsdashError, InvalidPayload
from gemsdash.queue.jobs import Backoff, JobState, JobType, Priority, from_ms
from gemsdash.queue.registry import spec_for
from gemsdash.queue.store import JobStore, StoredJob, StoredSchedule, Submission, Verdict

logger = logging.getLogger(__name__)

#: Schedules a store keeps at most: listing them all is one bounded read.
MAX_SCHEDULES = 1000
#: The most missed ticks a schedule may ask to be fired after downtime (`--catch-up`).
MAX_CATCH_UP = 100
MIN_INTERVAL_MS = 1000
MAX_INTERVAL_MS = 366 * 24 * 3600 * 1000
#: Due schedules fired per pass of a firer (one read, then one write each).
FIRE_BATCH = 50
#: Cron ticks walked at most to count the missed ones after a long downtime; past that the next
#: run is found from now and the count stops there.
MAX_SCAN = 10_000
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}")
_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_EVERY = re.compile(r"(\d+)(ms|s|m|h|d)")


class ScheduleError(InvalidPayload):
    """A schedule's definition is wrong (name, rule, timezone, catch-up): a usage error (exit 2,
    HTTP 422) that names its field, as a payload error does."""

    def __init__(self, message: str, field: str = "schedule") -> None:
        GemsdashError.__init__(self, message)
        self.job_type = "schedule"
        self.errors = [(field, message)]


class ScheduleNotFound(GemsdashError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"schedule {name!r} not found")


class ScheduleExists(GemsdashError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"schedule {name!r} already exists; remove it first to change it")


def parse_every(text: str) -> int:
    """`30s`, `5m`, `1h`, `1h30m`, `1d`, `500ms` -> milliseconds."""
    value = text.strip().lower()
    parts = _EVERY.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ScheduleError(f"--every {text!r}: expected a duration such as 30s, 5m, 1h, 1h30m or 1d", "every")
    ms = sum(int(n) * _UNITS_MS[u] for n, u in parts)
    if not MIN_INTERVAL_MS <= ms <= MAX_INTERVAL_MS:
        raise ScheduleError(f"--every {text!r}: must be between 1s and 366d", "every")
    return ms


def format_every(ms: int) -> str:
    parts = []
    for unit in ("d", "h", "m", "s", "ms"):
        size = _UNITS_MS[unit]
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(parts) or "0s"


@dataclass(frozen=True)
class Rule:
    """When a schedule fires: a five-field cron expression in a timezone, or a fixed interval."""

    cron: str | None = None
    every_ms: int | None = None
    timezone: str = "UTC"

    @staticmethod
    def parse(cron: str | None, every: str | int | None, timezone: str | None = None) -> Rule:
        if (cron is None) == (every is None):
            raise ScheduleError("give exactly one of --cron EXPR and --every DURATION", "cron")
        tz = timezone or "UTC"
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(f"unknown timezone {tz!r} (an IANA name such as Europe/Berlin)", "timezone") from None
        if every is not None:
            every_ms = every if isinstance(every, int) else parse_every(every)
            if not MIN_INTERVAL_MS <= every_ms <= MAX_INTERVAL_MS:
                raise ScheduleError("the interval must be between 1s and 366d", "every")
            return Rule(every_ms=every_ms, timezone=tz)
        assert cron is not None
        expr = " ".join(cron.split())
        if len(expr.split(" ")) != 5:
            raise ScheduleError(f"--cron {cron!r}: expected five fields (minute hour day month weekday)", "cron")
        try:
            CronSim(expr, datetime.now(ZoneInfo(tz)))
        except CronSimError as exc:
            raise ScheduleError(f"--cron {cron!r}: {exc}", "cron") from None
        rule = Rule(cron=expr, timezone=tz)
        if rule.after(0) is None:
            raise ScheduleError(f"--cron {cron!r}: never fires", "cron")
        return rule

    def text(self) -> str:
        if self.every_ms is not None:
            return f"every {format_every(self.every_ms)}"
        return f"cron {self.cron}" + ("" if self.timezone == "UTC" else f" ({self.timezone})")

    def after(self, moment_ms: int) -> int | None:
        """The first tick strictly after `moment_ms` (epoch ms); None if the rule never fires again."""
        if self.every_ms is not None:
            return moment_ms + self.every_ms
        assert self.cron is not None
        start = datetime.fromtimestamp(moment_ms / 1000, tz=ZoneInfo(self.timezone))
        ticks = iter(CronSim(self.cron, start))
        # Strictly later, whatever a DST change does to local time: a tick that did not advance
        # would fire again at once, for ever.
        for _ in range(4):
            try:
                tick = int(next(ticks).timestamp() * 1000)
            except StopIteration:
                return None
            if tick > moment_ms:
                return tick
        return None

    def due(self, expected_ms: int, now_ms: int, keep: int) -> tuple[list[int], int, int | None]:
        """The ticks from `expected_ms` up to `now_ms`: (the latest `keep` of them, how many more
        were missed, the first tick after `now_ms`)."""
        if now_ms < expected_ms:
            return [], 0, expected_ms
        if self.every_ms is not None:
            count = (now_ms - expected_ms) // self.every_ms + 1
            last = expected_ms + (count - 1) * self.every_ms
            kept = [last - i * self.every_ms for i in range(min(keep, count) - 1, -1, -1)]
            return kept, count - len(kept), last + self.every_ms
        assert self.cron is not None
        latest: deque[int] = deque(maxlen=keep)
        seen = 0
        tick: int | None = expected_ms
        # One iterator for the whole walk: a week of a per-minute rule is 10,080 steps.
        following = iter(CronSim(self.cron, datetime.fromtimestamp(expected_ms / 1000, tz=ZoneInfo(self.timezone))))
        while tick is not None and tick <= now_ms and seen < MAX_SCAN:
            latest.append(tick)
            seen += 1
            previous = tick
            tick = next((t for t in (_ms(d) for d in _take(following, 4)) if t > previous), None)
        if tick is not None and tick <= now_ms:
            # Scanned too far (a long downtime): the ticks fired are the latest before now, found
            # backwards from now; the missed count stops at what was scanned.
            start = datetime.fromtimestamp(now_ms / 1000, tz=ZoneInfo(self.timezone))
            back = [_ms(d) for d in _take(iter(CronSim(self.cron, start, reverse=True)), keep + 1)]
            latest = deque(sorted({t for t in back if expected_ms <= t <= now_ms})[-keep:], maxlen=keep)
            tick = self.after(now_ms)
        return list(latest), max(seen - len(latest), 0), tick


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _take(ticks: Iterator[datetime], n: int) -> Iterator[datetime]:
    """Up to `n` more ticks, lazily (a cron rule's iterator ends after 50 years without a match)."""
    for _ in range(n):
        try:
            yield next(ticks)
        except StopIteration:
            return


class Schedule(BaseModel):
    """A schedule as listed (`gemsdash schedule list --json`, `GET /queue/schedules`)."""

    model_config = ConfigDict(extra="ignore")

    name: str
    type: JobType
    payload: dict[str, Any]
    priority: Priority | None = None
    attempts: int | None = None
    backoff: Backoff | None = None
    cron: str | None = None
    every_ms: int | None = None
    timezone: str = "UTC"
    rule: str
    catch_up: int = 0
    paused: bool = False
    created_at: datetime
    next_run_at: datetime | None = None
    last_tick_at: datetime | None = None
    last_run_at: datetime | None = None
    last_job_id: str | None = None
    #: The last job's state when listed; None once its record has expired.
    last_job_state: JobState | None = None
    fired: int = 0
    missed: int = 0

    def public_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.model_dump_json())
        return data


def definition(
    name: str,
    job_type: JobType | str,
    payload: dict[str, Any],
    rule: Rule,
    *,
    priority: Priority | str | None,
    attempts: int | None,
    backoff: Backoff | dict[str, Any] | None,
    catch_up: int,
    created_ms: int,
) -> dict[str, Any]:
    """What a schedule's jobs are made of, and a `gen` that tells it from an older namesake."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        shown = repr(name[:40] + ("..." if len(name) > 40 else "")) if isinstance(name, str) else "?"
        raise ScheduleError(
            f"schedule name {shown}: 1-100 characters of letters, digits and _ . : @ -, starting with a letter "
            "or digit",
            "name",
        )
    if not 0 <= catch_up <= MAX_CATCH_UP:
        raise ScheduleError(f"--catch-up must be between 0 and {MAX_CATCH_UP}", "catch_up")
    return {
        "name": name,
        "gen": uuid.uuid4().hex,
        "type": spec_for(job_type).job_type.value,
        "payload": payload,
        "priority": Priority(priority).value if priority is not None else None,
        "attempts": attempts,
        "backoff": Backoff.model_validate(backoff).model_dump() if backoff is not None else None,
        "cron": rule.cron,
        "every_ms": rule.every_ms,
        "timezone": rule.timezone,
        "catch_up": catch_up,
        "created_at": created_ms,
    }


def rule_of(spec: dict[str, Any]) -> Rule:
    return Rule(cron=spec.get("cron"), every_ms=spec.get("every_ms"), timezone=spec.get("timezone") or "UTC")


def decode_schedule(stored: StoredSchedule) -> Schedule:
    spec = json.loads(stored["definition"])
    state = stored.get("last_state")
    paused = bool(stored.get("paused"))
    return Schedule.model_validate(
        {
            **spec,
            "rule": rule_of(spec).text(),
            "created_at": from_ms(spec["created_at"]),
            "paused": paused,
            # Paused, a schedule has no next run: resuming picks the rule's next tick after then.
            "next_run_at": from_ms(stored["next"]) if stored.get("next") is not None and not paused else None,
            "last_tick_at": from_ms(stored["last_tick"]) if stored.get("last_tick") else None,
            "last_run_at": from_ms(stored["last_at"]) if stored.get("last_at") else None,
            "last_job_id": stored.get("last_job") or None,
            "last_job_state": state if state in JobState._value2member_map_ else None,
            "fired": int(stored.get("fired") or 0),
            "missed": int(stored.get("missed") or 0),
        }
    )


def tick_submission(spec: dict[str, Any], tick_ms: int, payload_limit: int) -> Submission:
    """The job of one tick, validated as `enqueue` validates, its record naming schedule and tick."""
    # Imported here: the producer reaches the runtime, which builds the worker middleware that
    # imports this module.
    from gemsdash.queue.producer import JobRequest, prepare

    request = JobRequest(
        spec["type"], spec["payload"], spec.get("priority"), None, spec.get("attempts"), spec.get("backoff")
    )
    sub = prepare(request, payload_limit)
    record: StoredJob = sub.record
    record["schedule"] = spec["name"]
    record["schedule_tick"] = tick_ms
    return sub


def fire_one(store: JobStore, stored: StoredSchedule, now_ms: int, payload_limit: int) -> int:
    """Fire one due schedule: the jobs it enqueued (0 when another firer got the tick first)."""
    spec = json.loads(stored["definition"])
    expected = int(stored["next"])
    rule = rule_of(spec)
    keep = max(1, int(spec.get("catch_up") or 0))
    ticks, missed, following = rule.due(expected, now_ms, keep)
    try:
        subs = [tick_submission(spec, tick, payload_limit) for tick in ticks]
    except InvalidPayload as exc:
        # Valid when created; invalid now (a lower payload limit, a newer payload model). The tick
        # is claimed without a job and counted missed, so the firers do not retry it forever.
        logger.warning("Schedule %r cannot enqueue its job: %s", spec["name"], exc)
        subs, missed, ticks = [], missed + len(ticks), []
    verdict = store.schedule_fire(spec["name"], spec["gen"], expected, following, missed, subs, ticks)
    if verdict is not Verdict.OK:
        return 0
    if missed:
        logger.info("Schedule %r: %d missed tick(s) not fired (catch-up %d).", spec["name"], missed, keep - 1)
    return len(subs)


def fire_due(
    store: JobStore, payload_limit: int, max_wait_s: float = 1.0, look: Callable[[], int | None] | None = None
) -> float:
    """Fire every schedule that is due; returns how long to wait before looking again.

    `look` (Redis mode: the idle gate's poll, idle_gate.py) gives the first schedule's next run
    from plain commands: `sched_due`, a script call, is made only when that run has come by Redis's
    clock as this process knows it (its offset is off by well under a millisecond; a run found early
    is looked at again 20 ms later, and `sched_due` decides by Redis's own clock)."""
    if look is not None:
        first = look()
        if first is None:
            return max_wait_s
        ahead_ms = first - clock.now_ms()
        if ahead_ms > 0:
            return min(max(ahead_ms / 1000, 0.02), max_wait_s)
    now, due, earliest = store.schedules_due(FIRE_BATCH)
    for stored in due:
        try:
            fire_one(store, stored, now, payload_limit)
        except BackendUnavailable:
            raise
        except Exception:
            logger.exception("Schedule %r could not be fired", stored.get("name"))
    if due:  # look again at once: the next pass reads the next runs these fires set
        return 0.02
    if earliest is None:
        return max_wait_s
    return min(max((earliest - now) / 1000, 0.02), max_wait_s)
