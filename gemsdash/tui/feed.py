"""When to refresh and how fresh the data on screen is.

The dashboard polls; this is the polling policy, kept free of Textual so it can be tested alone:
never a new fetch while one runs (rq-dashboard #91 stacked requests until Redis fell over), back
off while the backend is down, and say honestly how old the numbers are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from gemsdash.tui.format import seconds

#: Refresh intervals `+` and `-` step through, in seconds.
INTERVAL_STEPS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
#: While the backend fails, retries back off up to this many seconds.
MAX_RETRY_DELAY = 5.0


class Level(StrEnum):
    LOADING = "loading"  # nothing fetched yet
    LIVE = "live"  # last refresh succeeded and on time
    LATE = "late"  # a refresh is overdue (slow backend, busy machine)
    STALE = "stale"  # the last refresh failed: what is on screen is old
    PAUSED = "paused"  # the operator stopped refreshing


@dataclass(frozen=True)
class Freshness:
    level: Level
    #: Seconds since the data on screen was read; None before the first good read.
    age: float | None
    #: The last refresh's error while stale.
    error: str | None
    #: Seconds until the next attempt while stale.
    retry_in: float | None

    @property
    def text(self) -> str:
        """`as of 2 s ago`, with what is wrong when something is."""
        parts: list[str] = []
        if self.level is Level.LOADING:
            parts.append("connecting…")
        elif self.age is None:
            parts.append("no data yet")
        else:
            parts.append(f"as of {seconds(self.age)} ago")
        if self.level is Level.STALE and self.retry_in is not None:
            parts.append(f"retrying in {seconds(self.retry_in)}" if self.retry_in >= 1 else "retrying now")
        if self.level is Level.PAUSED:
            parts.append("refresh paused")
        if self.level is Level.LATE:
            parts.append("refresh late")
        return " · ".join(parts)


class Feed:
    """The refresh schedule and the outcome of the last refresh.

    `now` arguments are monotonic seconds (scheduling); `wall` arguments are the dashboard clock
    (ages shown to the operator), kept apart so tests can freeze what is shown.
    """

    def __init__(self, interval: float) -> None:
        self.interval = max(float(interval), 0.05)
        self.paused = False
        self.in_flight = False
        self.taken_at: datetime | None = None
        self.error: str | None = None
        self.failures = 0
        self.next_due = 0.0
        self._started = 0.0
        self._pending = False

    # -- scheduling -------------------------------------------------------------------------

    def due(self, now: float) -> bool:
        """Start a refresh now? Never while one runs; early when something asked for one."""
        if self.in_flight:
            return False
        if self._pending:
            return True
        return not self.paused and now >= self.next_due

    def request(self) -> None:
        """Refresh as soon as the running one (if any) ends: the operator changed what is shown."""
        self._pending = True

    def begin(self, now: float) -> None:
        self.in_flight = True
        self._pending = False
        self._started = now

    def succeeded(self, now: float, taken_at: datetime) -> None:
        self.in_flight = False
        self.taken_at = taken_at
        self.error = None
        self.failures = 0
        # The period runs from the start of a refresh, so a slow read does not stretch the rhythm,
        # but a read slower than the interval is followed by the next one, never overlapped.
        self.next_due = self._started + self.interval

    def failed(self, now: float, error: str) -> None:
        self.in_flight = False
        self.error = error
        self.failures += 1
        self.next_due = now + self.retry_delay()

    def retry_delay(self) -> float:
        return float(min(self.interval * 2 ** max(self.failures - 1, 0), max(MAX_RETRY_DELAY, self.interval)))

    # -- operator controls ------------------------------------------------------------------

    def toggle_pause(self) -> bool:
        self.paused = not self.paused
        return self.paused

    def step_interval(self, direction: int) -> float:
        """The next slower (+1) or faster (-1) interval of INTERVAL_STEPS."""
        if direction > 0:
            larger = [s for s in INTERVAL_STEPS if s > self.interval + 1e-9]
            self.interval = larger[0] if larger else self.interval
        else:
            smaller = [s for s in INTERVAL_STEPS if s < self.interval - 1e-9]
            self.interval = smaller[-1] if smaller else self.interval
        self.next_due = min(self.next_due, self._started + self.interval)
        return self.interval

    # -- what the header says ---------------------------------------------------------------

    def freshness(self, now: float, wall: datetime) -> Freshness:
        age = (wall - self.taken_at).total_seconds() if self.taken_at is not None else None
        if self.error is not None:
            retry_in = 0.0 if self.in_flight else max(self.next_due - now, 0.0)
            return Freshness(Level.STALE, age, self.error, retry_in)
        if self.taken_at is None or age is None:
            return Freshness(Level.LOADING, None, None, None)
        if self.paused:
            return Freshness(Level.PAUSED, age, None, None)
        # One interval for the schedule, one for the read itself, and a second of slack.
        if age > 2 * self.interval + 1.0:
            return Freshness(Level.LATE, age, None, None)
        return Freshness(Level.LIVE, age, None, None)
