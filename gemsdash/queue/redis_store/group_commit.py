"""Worker threads' `start` calls sent together: all those waiting at one moment go to Redis in one
write and one read (a pipeline of EVALSHAs, each still its own atomic script call), instead of one
round trip each.

A worker thread's only synchronous Redis call per job is `start` (the record says `running` before
the job runs). Under load several of a process's threads make it at once; each paid a system call
to send, one to read, and redis-py's reply handling, and Redis a read and a write per call. Here
the first caller leads: it takes every call pending, sends them on its own connection and hands
each caller its own reply (or error). Calls made meanwhile wait; when the leader is done, the
oldest of them leads the next batch with everything pending by then, so no thread sends for others
more than once and none waits for more than the batch in flight and its own.

Nothing changes for a single call but a lock: an idle worker's call is a batch of one.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from typing import Any

import redis

#: (commands) -> one reply or exception per command, in order; raises when none could be read.
Send = Callable[[list[Sequence[Any]]], list[Any]]


class _Call:
    __slots__ = ("argv", "done", "lead", "reply")

    def __init__(self, argv: Sequence[Any]) -> None:
        self.argv = argv
        #: Held until the call has its reply or must lead (a lock is CPython's cheapest hand-off).
        self.done = threading.Lock()
        self.done.acquire()
        self.lead = False
        self.reply: Any = None


class GroupCommit:
    def __init__(self, send: Send) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._pending: list[_Call] = []
        self._sending = False

    def call(self, argv: Sequence[Any]) -> Any:
        """This command's reply; its error (a Redis error, a lost connection) is raised here."""
        own = _Call(argv)
        with self._lock:
            self._pending.append(own)
            own.lead = not self._sending
            self._sending = True
        if not own.lead:
            own.done.acquire()  # released with the reply, or to lead the next batch
        if own.lead:
            self._lead()
        reply = own.reply
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def _lead(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        interrupted: BaseException | None = None
        try:
            replies = self._send([c.argv for c in batch])
        except Exception as exc:
            # Each caller raises an exception of its own (raising one object from several threads
            # would mix their tracebacks).
            replies = [exc] + [copy.copy(exc) for _ in batch[1:]]
        except BaseException as exc:  # this thread was interrupted: not the others' error
            interrupted = exc
            lost = "the thread sending this call was interrupted"
            replies = [exc] + [redis.ConnectionError(lost) for _ in batch[1:]]
        for c, reply in zip(batch, replies, strict=True):
            c.reply = reply
        with self._lock:
            following = self._pending[0] if self._pending else None
            if following is None:
                self._sending = False
            else:
                following.lead = True
        for c in batch[1:]:
            c.done.release()
        if following is not None:
            following.done.release()
        if interrupted is not None:
            raise interrupted
