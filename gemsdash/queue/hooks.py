"""Middleware signals that call only the middleware that handle them.

Dramatiq's `emit_before`/`emit_after` call every middleware's hook for every signal, and most of
gemsdash's dozen middleware leave most hooks as `Middleware`'s no-ops: in memory mode, where a no-op
job costs a few tens of µs, those calls (a getattr and a call each, six signals per job) were a
large share of it. The handlers of each signal are found once, as bound methods (no getattr per
call), and found again whenever a middleware is added (Dramatiq changes the list only in
`add_middleware`); order, errors and logging are Dramatiq's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dramatiq.broker import Broker
from dramatiq.middleware import Middleware, MiddlewareError

Handler = Callable[..., Any]


def _handles(middleware: Middleware, hook: str) -> bool:
    """Whether the middleware's hook is its own, not Middleware's no-op."""
    if hook in vars(middleware):
        return True
    return getattr(type(middleware), hook, None) is not getattr(Middleware, hook, None)


class HandlersOnly(Broker):
    """A broker mixin (before the Dramatiq broker class): emit_* skip middleware without the hook."""

    #: Hook name -> its handlers; emptied by add_middleware. (Comparing the middleware list with a
    #: copy on every signal, as this did, cost a no-op job in memory mode ~2k instructions a signal.)
    _handlers: dict[str, list[tuple[Middleware, Handler]]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._handlers = {}
        super().__init__(*args, **kwargs)

    def add_middleware(
        self, middleware: Middleware, *, before: type[Middleware] | None = None, after: type[Middleware] | None = None
    ) -> None:
        super().add_middleware(middleware, before=before, after=after)
        self._handlers = {}

    def _handlers_for(self, hook: str) -> list[tuple[Middleware, Handler]]:
        found = self._handlers.get(hook)
        if found is None:
            found = self._handlers[hook] = [(m, getattr(m, hook)) for m in self.middleware if _handles(m, hook)]
        return found

    def emit_before(self, signal: str, *args: Any, **kwargs: Any) -> None:
        hook = "before_" + signal
        for middleware, handler in self._handlers_for(hook):
            try:
                handler(self, *args, **kwargs)
            except MiddlewareError:
                raise
            except Exception:
                self.logger.critical("Unexpected failure in %s of %r.", hook, middleware, exc_info=True)

    def emit_after(self, signal: str, *args: Any, **kwargs: Any) -> None:
        hook = "after_" + signal
        for middleware, handler in reversed(self._handlers_for(hook)):
            try:
                handler(self, *args, **kwargs)
            except Exception:
                self.logger.critical("Unexpected failure in %s of %r.", hook, middleware, exc_info=True)
