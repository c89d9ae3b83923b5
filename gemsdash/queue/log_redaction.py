"""Keeps payloads and secrets out of every log line the process writes.

Dramatiq logs a failing message with its arguments (the payload: an email's context, a payment's
details) and exceptions whose text may echo a connection URL. Rather than filtering handlers we
do not own (Dramatiq's CLI installs its own), the log record factory rewrites records as they are
created: message arguments become `actor(job id)`, payload-like ones are masked, and the record's
`getMessage` redacts the formatted message (known secrets become `***`, card numbers are blanked,
control characters are shown as escapes so a job's error cannot drive the terminal reading the
log). Tracebacks are formatted and redacted once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from dramatiq import Message
from dramatiq.broker import MessageProxy

from gemsdash.queue.redaction import Redactor, mask_payload
from gemsdash.queue.visible import visible

_formatter = logging.Formatter()
_original_factory: Callable[..., logging.LogRecord] | None = None
_redactor = Redactor()


def _safe_arg(arg: Any) -> Any:
    if isinstance(arg, (Message, MessageProxy)):
        return f"{arg.actor_name}(job {arg.message_id})"
    if isinstance(arg, (dict, list, tuple)):
        # Dramatiq's actors log their arguments (the payload) at DEBUG.
        return mask_payload(arg)
    if isinstance(arg, str):
        # For formatters that read the arguments themselves (uvicorn's access formatter).
        return clean_message(arg)
    return arg


class RedactedLogRecord(logging.LogRecord):
    """A record whose message is redacted and made terminal-safe when it is formatted.

    The arguments stay as they were logged (payload-like ones masked): formatters such as
    uvicorn's access formatter read `record.args` themselves, and failed with "--- Logging error
    ---" on every request when the factory emptied them.
    """

    def getMessage(self) -> str:
        return clean_message(logging.LogRecord.getMessage(self))


def clean_message(text: str) -> str:
    """Known secrets and card numbers masked, control characters shown as escapes."""
    return visible(_redactor.text(text), multiline=True)


_subclasses: dict[type[logging.LogRecord], type[logging.LogRecord]] = {logging.LogRecord: RedactedLogRecord}


def _redacted_class(cls: type[logging.LogRecord]) -> type[logging.LogRecord]:
    """Another factory's record class, with the same redacting `getMessage` on top."""
    if issubclass(cls, RedactedLogRecord):
        return cls
    found = _subclasses.get(cls)
    if found is None:

        def get_message(record: logging.LogRecord) -> str:
            return clean_message(cls.getMessage(record))

        found = _subclasses[cls] = type(f"Redacted{cls.__name__}", (cls,), {"getMessage": get_message})
    return found


def _factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    assert _original_factory is not None
    record = _original_factory(*args, **kwargs)
    try:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_safe_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = mask_payload(record.args)
        elif isinstance(record.msg, str):
            # Nothing to format: redact the message itself, for handlers that read `record.msg`.
            record.msg = clean_message(record.msg)
        record.__class__ = _redacted_class(type(record))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = clean_message(_formatter.formatException(record.exc_info))
    except Exception:  # a log call must never fail because of redaction
        return record
    return record


def install(redactor: Redactor) -> None:
    """Redact with `redactor`'s secrets from now on (idempotent; the latest redactor wins)."""
    global _original_factory, _redactor
    _redactor = redactor
    if _original_factory is None:
        _original_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_factory)
