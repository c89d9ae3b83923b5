"""How the dashboard writes numbers, ages and states: one place, so every screen says it the same way.

Everything returns `rich.text.Text` or plain `str` built without markup parsing, because job errors
and payloads are user data: a `[` in an error message must print as a `[`, not start a style. For
the same reason job data goes through `data` (or `visible`): an ESC in an error is shown as `\\x1b`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.console import JustifyMethod
from rich.text import Text

from gemsdash.queue import JobState
from gemsdash.queue.visible import visible

#: One colour per state, used for table headers, state cells and the state tabs alike.
STATE_STYLE: dict[JobState, str] = {
    JobState.QUEUED: "bold #5fafff",
    JobState.DELAYED: "#af87ff",
    JobState.RUNNING: "bold #00d7d7",
    JobState.RETRYING: "bold #ffaf00",
    JobState.SUCCEEDED: "#5faf5f",
    JobState.DEAD: "bold #ff5f5f",
    JobState.CANCELLED: "#8a8a8a",
}

PRIORITY_STYLE = {"critical": "bold #ff5f5f", "high": "#ffaf00", "normal": "", "low": "dim"}

_BARS = " ▁▂▃▄▅▆▇█"


def count(value: int) -> str:
    return f"{value:,}"


def count_cell(value: int, state: JobState) -> Text:
    """Zero is dim so the eye lands on the states that hold something; dead jobs shout."""
    if value == 0:
        return Text("0", style="dim", justify="right")
    style = STATE_STYLE[state] if state in (JobState.DEAD, JobState.RETRYING, JobState.RUNNING) else ""
    return Text(count(value), style=style, justify="right")


def seconds(value: float) -> str:
    """A short age or span, k9s style: `<1s`, `42s`, `3m05s`, `2h10m`, `3d04h`."""
    value = max(value, 0.0)
    if value < 1:
        return "<1s"
    whole = int(value)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def age(then: datetime | None, now: datetime) -> str:
    return "" if then is None else seconds((now - then).total_seconds())


def duration_ms(value: float | None) -> str:
    """Job durations: milliseconds stay milliseconds until they read better as seconds."""
    if value is None:
        return ""
    if value < 1000:
        return f"{value:.0f}ms"
    if value < 60_000:
        return f"{value / 1000:.1f}s"
    return seconds(value / 1000)


def rate(per_minute: float) -> str:
    return f"{per_minute:,.0f}"


def state_text(state: JobState) -> Text:
    return Text(state.value, style=STATE_STYLE[state])


def one_line(text: str, limit: int = 120) -> str:
    """The first line of `text`, cut to `limit` characters with an ellipsis."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


def short_id(job_id: str) -> str:
    """Eight characters identify a job among thousands (UUID4); `/` searches by this prefix."""
    return visible(job_id[:8])


def data(value: object, style: str = "", *, multiline: bool = False, justify: JustifyMethod | None = None) -> Text:
    """Job data (errors, ids, worker names, audit entries) as a cell: control and bidi characters
    shown as escapes, so it cannot drive the terminal, and never parsed as markup."""
    return Text(visible(str(value), multiline=multiline), style=style, justify=justify)


def spark(values: Sequence[int], failed: Sequence[int] | None = None, width: int | None = None) -> Text:
    """A throughput bar per slot, scaled from zero (not from the series minimum, which would make a
    steady 50/min look like a cliff). Slots with failures are amber, with mostly failures red."""
    totals = list(values)
    fails = list(failed) if failed is not None else [0] * len(totals)
    if width is not None and width < len(totals):
        step = len(totals) / width
        groups = [range(int(i * step), int((i + 1) * step)) for i in range(width)]
        totals = [sum(totals[j] for j in g) for g in groups]
        fails = [sum(fails[j] for j in g) for g in groups]
    peak = max(totals, default=0)
    out = Text(no_wrap=True)
    for total, bad in zip(totals, fails, strict=True):
        if total == 0:
            out.append("·", style="dim")
            continue
        level = max(1, round(total / peak * (len(_BARS) - 1)))
        style = "#ff5f5f" if bad * 2 > total else "#ffaf00" if bad else "#5faf5f"
        out.append(_BARS[level], style=style)
    return out
