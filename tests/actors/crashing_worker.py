"""A worker module for fault tests, run as `dramatiq tests.actors.crashing_worker`: the real actors,
and a middleware that SIGKILLs this process right after a job's work returned, before its result is
recorded or its message acknowledged. It fires once per job (a flag in Redis), so the redelivered
message runs normally on whichever worker gets it."""

from __future__ import annotations

import os
import signal
from typing import Any

from dramatiq import Broker, Middleware
from dramatiq.broker import MessageProxy

import gemsdash.actors  # noqa: F401  (under `dramatiq`, this builds the runtime and declares the actors)
from gemsdash.queue import current_runtime
from gemsdash.queue.middleware import JobTracking


class KillBeforeAck(Middleware):
    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        runtime = current_runtime()
        assert runtime.client is not None
        flag = f"{runtime.settings.namespace}:test:killed:{message.message_id}"
        if exception is None and runtime.client.set(flag, os.getpid(), nx=True):
            os.kill(os.getpid(), signal.SIGKILL)


# Dramatiq runs after-hooks in reverse order: declared after JobTracking, this one runs before
# JobTracking records the outcome, so the killed job still looks "running", as after a real crash.
current_runtime().broker.add_middleware(KillBeforeAck(), after=JobTracking)
