"""Middleware signals that call only the middleware that handle them.

Dramatiq's `emit_before`/`emit_after` call every middleware's hook for every signal, and most of
gemsdash's dozen middleware leave most hooks as `Middleware`'s no-ops: in memory mode, where a no-op
job costs a few tens of µs, those calls (a getattr and a call each, six signals per job) were a
large share of it. The handlers of each signal are found once, as bound methods (no getattr per
call), and found again whenever the middleware list changes; order, errors and logging are
Dramatiq's.
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

    _handlers: dict[str, list[tuple[Middleware, Handler]]]
    _handlers_of: list[Middleware]

    def _handlers_for(self, hook: str) -> list[tuple[Middleware, Handler]]:
        if getattr(self, "_handlers_of", None) != self.middleware:
            self._handlers_of = list(self.middleware)
            self._handlers = {}
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
