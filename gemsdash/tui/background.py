"""Backend calls off the UI thread, and saying how they went.

Every `gemsdash.queue` call may block on the network, so actions run it on a thread worker of the
app (not of the screen: a screen dismissed meanwhile must not swallow the outcome) and get the value
back on the UI thread.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import TypeVar

from textual.dom import DOMNode
from textual.notifications import SeverityLevel

from gemsdash.queue import GemsdashError
from gemsdash.queue.visible import visible

logger = logging.getLogger("gemsdash.tui")

T = TypeVar("T")


def say(node: DOMNode, message: str, severity: SeverityLevel = "information") -> None:
    """Notify with text that may hold user data (ids, error messages): never parsed as markup."""
    node.app.notify(
        visible(message, multiline=True), severity=severity, markup=False, timeout=6 if severity == "error" else 4
    )


def background(
    node: DOMNode,
    work: Callable[[], T],
    done: Callable[[T], None],
    *,
    failed: Callable[[Exception], None] | None = None,
) -> None:
    """Run `work` on a thread; `done(value)` or `failed(error)` then run on the UI thread.

    Without `failed`, a failure is reported as a notification in the error's own words
    (`GemsdashError` messages are one line and say what to do)."""
    app = node.app

    def report(exc: Exception) -> None:
        if failed is not None:
            failed(exc)
        else:
            say(app, str(exc) if isinstance(exc, GemsdashError) else f"{type(exc).__name__}: {exc}", "error")

    def run() -> None:
        try:
            value = work()
        except Exception as exc:
            if not isinstance(exc, GemsdashError):
                logger.exception("dashboard action failed")
            call_soon(node, report, exc)
        else:
            call_soon(node, done, value)

    app.run_worker(run, thread=True, group="actions", exit_on_error=False)


def call_soon(node: DOMNode, fn: Callable[[T], None], value: T) -> None:
    """From a thread: `fn(value)` on the UI thread, unless the app has closed meanwhile."""
    with contextlib.suppress(RuntimeError):
        node.app.call_from_thread(fn, value)
