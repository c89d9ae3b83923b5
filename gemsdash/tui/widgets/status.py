"""The line under the header that says whether to trust the numbers, and the fallback banner.

Connection, live workers and the age of the data sit together because they answer one question:
"is what I see true right now?". Green when it is, amber when a refresh is late, red when the
backend is gone and the screen shows the last good data.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from gemsdash.queue import Problem
from gemsdash.queue.visible import visible
from gemsdash.tui.feed import Freshness, Level
from gemsdash.tui.format import count, seconds
from gemsdash.tui.source import Backend

LEVEL_STYLE = {
    Level.LOADING: "dim",
    Level.LIVE: "#5faf5f",
    Level.LATE: "bold #ffaf00",
    Level.STALE: "bold #ff5f5f",
    Level.PAUSED: "bold #af87ff",
}


@dataclass(frozen=True)
class Status:
    backend: Backend
    freshness: Freshness
    workers: int | None
    waiting: int
    interval: float
    read_only: bool
    demo: bool
    #: What health reports, from the last snapshot: each shown, red, on a line of its own.
    problems: tuple[Problem, ...] = ()


def status_text(status: Status) -> Text:
    fresh = status.freshness
    out = Text(no_wrap=True, overflow="ellipsis")
    if fresh.level is Level.STALE:
        out.append("✖ disconnected", style="bold #ff5f5f")
    elif fresh.level is Level.LOADING:
        out.append("◌ connecting", style="dim")
    elif status.backend.mode == "memory":
        out.append("● in-process", style="#5faf5f")
    else:
        out.append("● connected", style="#5faf5f")
    out.append("  │  ", style="dim")
    if status.workers is None:
        out.append("workers ?", style="dim")
    else:
        idle_backlog = status.workers == 0 and status.waiting > 0
        style = "bold #ff5f5f" if idle_backlog else ""
        out.append(f"{count(status.workers)} worker{'s' if status.workers != 1 else ''}", style=style)
        if idle_backlog:
            out.append(f" for {count(status.waiting)} waiting", style=style)
    out.append("  │  ", style="dim")
    out.append(fresh.text, style=LEVEL_STYLE[fresh.level])
    out.append("  │  ", style="dim")
    out.append(f"every {seconds(status.interval) if status.interval >= 1 else f'{status.interval:g}s'}", style="dim")
    if status.read_only:
        out.append("  ")
        out.append(" READ-ONLY ", style="bold black on #af87ff")
    if status.demo:
        out.append("  ")
        out.append(" DEMO ", style="bold black on #5fafff")
    if fresh.level is Level.STALE and fresh.error:
        # On a line of its own: the reason is long, and what it says is the next thing to read.
        out.append("\n")
        out.append(visible(fresh.error), style="#ff5f5f")
    if status.problems:
        out.append("\n")
        out.append("⚠ " + "  ⚠ ".join(visible(p.short) for p in status.problems), style="bold #ff5f5f")
    return out


def subtitle(backend: Backend) -> str:
    """The header's sub-title: where the jobs live."""
    if backend.mode == "redis":
        primary = f" · primary {backend.primary}" if backend.primary else ""
        return f"redis {backend.url or ''}".strip() + primary
    if backend.fallback_reason:
        return "memory (FALLBACK: Redis unreachable)"
    return "memory · embedded worker"


def fallback_text(backend: Backend) -> Text:
    return Text.assemble(
        ("⚠ MEMORY FALLBACK ", "bold"),
        f"REDIS_ENABLED=true but {(backend.fallback_reason or '').rstrip('.')}. ",
        "Jobs live only in this process and are lost when it exits.",
    )


class StatusBar(Static):
    """Repainted every tick; only touches the screen when the text changed."""

    DEFAULT_CSS = """
    StatusBar { height: auto; max-height: 3; padding: 0 1; background: $boost; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._last = Text()

    def show(self, status: Status) -> None:
        text = status_text(status)
        if text.plain != self._last.plain or text.spans != self._last.spans:
            self._last = text
            self.update(text)

    @property
    def plain(self) -> str:
        return self._last.plain


class FallbackBanner(Static):
    DEFAULT_CSS = """
    FallbackBanner { height: auto; padding: 0 1; background: $error; color: $text; text-style: bold; }
    """
