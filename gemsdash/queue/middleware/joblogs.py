"""What a job logged while it ran, kept with the job (bounded, masked) for `gemsdash job ID` and
the dashboard's job detail.

A handler on the root logger hands each record logged by a thread that is running a job to that
job's buffer; Dramatiq's and gemsdash's own machinery logs are left out (they are about the
worker, not the job). A buffer keeps the first MAX_LINES lines of at most MAX_CHARS characters,
with every configured secret, every raw card number and the values of the payload's sensitive
fields masked; it is written once, when the job's run ends, and only when something was logged.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from dramatiq import Broker, Middleware, Worker

from gemsdash.queue.dramatiq_internals import proxied_message
from gemsdash.queue.redaction import MASK, SENSITIVE_KEY, Redactor
from gemsdash.queue.store import JobStore

logger = logging.getLogger(__name__)

MAX_LINES = 50
MAX_CHARS = 300
#: Loggers whose records are about the worker, not the job.
MACHINERY = ("dramatiq", "gemsdash.queue")


class _Buffer:
    __slots__ = ("_secrets", "dropped", "job_id", "lines", "payload")

    def __init__(self, job_id: str, payload: Any) -> None:
        self.job_id = job_id
        self.payload = payload
        self._secrets: list[str] | None = None
        self.lines: list[str] = []
        self.dropped = 0

    @property
    def secrets(self) -> list[str]:
        """Found on the job's first log line: most jobs log nothing, and the walk cost each of them
        a share of a no-op job's time in memory mode."""
        if self._secrets is None:
            self._secrets = _sensitive_values(self.payload)
        return self._secrets


class JobLogs(Middleware):
    def __init__(self, store: JobStore, redactor: Redactor) -> None:
        self.store = store
        self.redactor = redactor
        self._buffers: dict[int, _Buffer] = {}
        self._handler = _Capture(self)

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        logging.getLogger().addHandler(self._handler)

    def after_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        logging.getLogger().removeHandler(self._handler)

    def before_process_message(self, broker: Broker, message: Any) -> None:
        # The message itself, not its proxy: each attribute read through a proxy is a Python call.
        msg = proxied_message(message)
        args = msg.args
        self._buffers[threading.get_ident()] = _Buffer(msg.message_id, args[0] if args else None)

    def after_process_message(
        self, broker: Broker, message: Any, *, result: Any | None = None, exception: BaseException | None = None
    ) -> None:
        self._flush()

    def after_skip_message(self, broker: Broker, message: Any) -> None:
        self._buffers.pop(threading.get_ident(), None)

    def capture(self, record: logging.LogRecord) -> None:
        buffer = self._buffers.get(record.thread or 0)
        if buffer is None or record.name.startswith(MACHINERY):
            return
        if len(buffer.lines) >= MAX_LINES:
            buffer.dropped += 1
            return
        text = record.getMessage()
        for secret in buffer.secrets:
            text = text.replace(secret, MASK)
        text = self.redactor.text(text).replace("\n", " ⏎ ")
        stamp = time.strftime("%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}"
        buffer.lines.append(f"{stamp} {record.levelname} {record.name}: {text}"[:MAX_CHARS])

    def _flush(self) -> None:
        buffer = self._buffers.pop(threading.get_ident(), None)
        if buffer is None or not buffer.lines:
            return
        lines = buffer.lines + ([f"… {buffer.dropped} more line(s) not kept"] if buffer.dropped else [])
        try:
            self.store.save_logs(buffer.job_id, lines)
        except Exception as exc:  # the job's outcome matters more than its log; never fail it for this
            logger.warning("Could not keep the log lines of job %s: %s", buffer.job_id, exc)


class _Capture(logging.Handler):
    def __init__(self, owner: JobLogs) -> None:
        super().__init__(level=logging.INFO)
        self.owner = owner

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.owner.capture(record)
        except Exception:  # a log handler must never raise into the job
            self.handleError(record)


def _sensitive_values(value: Any) -> list[str]:
    """The text values under sensitive-looking keys of a payload (longest first), to mask in logs."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if SENSITIVE_KEY.search(str(key)) and isinstance(inner, (str, int)) and len(str(inner)) >= 3:
                    found.append(str(inner))
                else:
                    stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)
    return sorted(set(found), key=len, reverse=True)
