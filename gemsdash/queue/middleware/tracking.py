"""Writes every job's state changes to the job-state store, in both modes.

Hooks and the transition each one records:
  before_process_message   queued -> running (or skip: cancelled or cleared while waiting)
  after_enqueue            (Retries re-enqueueing the running message) remembers its next attempt
  after_process_message    running -> succeeded (on Redis: sent in batches by WriteBehind) | retrying
                           (on Redis with the retry's next copy and the attempt's ack, one call)
  before_nack              -> dead (attempts exhausted, non-retryable error, unknown actor)
  after_enqueue            (consumer thread handing a delayed message to its queue) -> queued
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from typing import Any

from dramatiq import Broker, Message, Middleware
from dramatiq.broker import MessageProxy
from dramatiq.middleware import SkipMessage
from dramatiq.worker import ConsumerThread

from gemsdash.queue import context
from gemsdash.queue.dramatiq_internals import proxied_exception, proxied_message
from gemsdash.queue.jobs import JobState, JobType, now_ms
from gemsdash.queue.messages import fallback_record, job_type_of_queue, scrubbed
from gemsdash.queue.middleware.abort import JobAborted
from gemsdash.queue.middleware.persist import persist
from gemsdash.queue.middleware.write_behind import WriteBehind
from gemsdash.queue.redaction import Redactor
from gemsdash.queue.store import JobStore, Settlement, Settling, Success, Verdict, worker_label

logger = logging.getLogger(__name__)

#: A job's result as stored: compact, anything JSON cannot encode as its str. One encoder for every
#: job (json.dumps with options builds one per call, a microsecond of a no-op job in memory mode).
_RESULT_JSON = json.JSONEncoder(separators=(",", ":"), default=str)


class JobTracking(Middleware):
    def __init__(
        self, store: JobStore, redactor: Redactor, settling: Settling, write_behind: WriteBehind | None = None
    ) -> None:
        self.store = store
        #: The broker's part of a job's final write (store.Settling).
        self.settling = settling
        #: Where successes and their acks go (Redis mode); None: written by the worker thread.
        self.write_behind = write_behind
        self.redactor = redactor
        self.worker = worker_label()
        self._started: dict[str, float] = {}
        self._next_attempt: dict[str, int] = {}
        self._dead_duration: dict[str, int | None] = {}
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        """Jobs this process is running (each started and not yet finished or skipped)."""
        return len(self._started)

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        msg = proxied_message(message)
        # A job whose record its fetch marked running (the fold prototype, runtime.py) runs without
        # a `start` call: an abort meanwhile is Aborts' to see (its poll); a cancel is refused.
        if not self.settling.started_by_fetch(msg):
            verdict = persist(lambda: self.store.start(msg, self.worker, None))
            if verdict.verdict is Verdict.MISSING:
                verdict = persist(lambda: self.store.start(msg, self.worker, fallback_record(msg)))
            if verdict.verdict is not Verdict.RUN:
                logger.info("Skipping job %s: it is %s.", msg.message_id, verdict.state)
                raise SkipMessage(str(verdict))
        # One dict store, atomic under the GIL: no lock (two per job were ~4k instructions).
        self._started[msg.message_id] = time.monotonic()
        job_type = job_type_of_queue(msg.queue_name) or JobType.SKETCH_GENERATION
        options = msg.options
        context.begin(
            msg.message_id, job_type, int(options.get("retries", 0)) + 1, int(options.get("max_retries", 0)) + 1
        )

    def before_enqueue(self, broker: Broker, message: Message[Any], delay: int | None) -> None:
        # Retries keeps the raw traceback in the message options, which would be stored in Redis
        # (and in the dead-letter queue for 7 days) unredacted; the job record has it, redacted.
        message.options.pop("traceback", None)

    def after_enqueue(self, broker: Broker, message: Message[Any], delay: int | None) -> None:
        active = context.active()
        if delay is not None and active is not None and active.job_id == message.message_id:
            with self._lock:
                self._next_attempt[message.message_id] = int(message.options.get("eta", now_ms() + delay))
        elif delay is None and isinstance(threading.current_thread(), ConsumerThread):
            persist(lambda: self.store.handoff(message.message_id))

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        job_result = context.leave()
        duration = self._finish_timing(message.message_id)
        if exception is None:
            detail = "null" if job_result is None else _RESULT_JSON.encode(job_result)
            # On Redis the record and Dramatiq's ack of this message are written behind, together in
            # one `succeed` call: no window in which a finished job could be delivered again.
            # Without write-behind (memory mode) there is no ack to look up.
            ack = self.settling.delivery(proxied_message(message)) if self.write_behind is not None else None
            if self.write_behind is not None and ack is not None:
                self.write_behind.record(Success(message.message_id, detail, duration, now_ms(), ack))
                self.settling.settle_with_record(ack)
            else:
                persist(lambda: self.store.finish(message.message_id, JobState.SUCCEEDED, detail, duration_ms=duration))
        elif isinstance(exception, JobAborted):
            error = self._error(message, exception)
            persist(lambda: self.store.aborted(message.message_id, error, duration))
        elif not message.failed:
            with self._lock:
                next_attempt = self._next_attempt.pop(message.message_id, None)
            error = self._error(message, exception)
            # On Redis, Retries' next copy was kept back (GemsdashRedisBroker.take_retry): it is
            # stored with the record and the ack of this attempt, or, if Redis never comes back,
            # none of them is and this attempt stays unacknowledged, to run again after recovery.
            retry = self.settling.take_retry(message.message_id)
            ack = self.settling.delivery(proxied_message(message)) if retry is not None else None
            if ack is not None:
                self.settling.settle_with_record(ack)
            persist(
                lambda: self.store.finish(
                    message.message_id,
                    JobState.RETRYING,
                    error,
                    duration_ms=duration,
                    next_attempt_ms=next_attempt,
                    settle=Settlement(ack, retry) if ack is not None else None,
                )
            )
        else:
            # Dead: recorded in before_nack, with the message's move to the dead-letter queue.
            with self._lock:
                self._dead_duration[message.message_id] = duration

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        context.leave()
        self._finish_timing(message.message_id)

    def before_nack(self, broker: Broker, message: MessageProxy) -> None:
        """On Redis the nack itself is part of this write (Dramatiq's own is skipped): written after
        it, a worker killed in between left the message dead-lettered and the record `running`."""
        with self._lock:
            duration = self._dead_duration.pop(message.message_id, None)
        clean = scrubbed(proxied_message(message))
        exception = proxied_exception(message)
        detail = (
            self._error(message, exception)
            if exception is not None
            else json.dumps({"type": "Rejected", "message": "message rejected by the worker", "traceback": None})
        )
        nack = self.settling.delivery(proxied_message(message))
        persist(
            lambda: self.store.finish(
                message.message_id,
                JobState.DEAD,
                detail,
                duration_ms=duration,
                message=proxied_message(message),
                fallback=fallback_record(proxied_message(message)),
                settle=Settlement(nack, None, clean.encode() if clean is not None else None),
            )
        )
        if nack is not None:
            self.settling.settle_with_record(nack)

    def _finish_timing(self, message_id: str) -> int | None:
        started = self._started.pop(message_id, None)
        return None if started is None else int((time.monotonic() - started) * 1000)

    def _error(self, message: MessageProxy, exception: BaseException) -> str:
        trace = "".join(traceback.format_exception(type(exception), exception, exception.__traceback__, limit=30))
        return json.dumps(
            {
                "type": type(exception).__name__,
                "message": self.redactor.text(str(exception)) or type(exception).__name__,
                "traceback": self.redactor.text(trace),
            },
            separators=(",", ":"),
        )
