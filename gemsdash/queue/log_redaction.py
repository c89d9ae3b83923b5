"""Keeps payloads and secrets out of every log line the process writes.

Dramatiq logs a failing message with its arguments (the payload: an email's context, a payment's
details) and exceptions whose text may echo a connection URL. Rather than filtering handlers we
do not own (Dramatiq's CLI installs its own), the log record factory rewrites records as they are
created: messages become `actor(job id)`, known secrets become `***`, tracebacks are formatted
and redacted once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from dramatiq import Message
from dramatiq.broker import MessageProxy

from gemsdash.queue.redaction import Redactor, mask_payload

_formatter = logging.Formatter()
_original_factory: Callable[..., logging.LogRecord] | None = None
_redactor = Redactor()


def _safe_arg(arg: Any) -> Any:
    if isinstance(arg, (Message, MessageProxy)):
        return f"{arg.actor_name}(job {arg.message_id})"
    if isinstance(arg, (dict, list, tuple)):
        # Dramatiq's actors log their arguments (the payload) at DEBUG.
        return mask_payload(arg)
    return arg


def _factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    assert _original_factory is not None
    record = _original_factory(*args, **kwargs)
    try:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_safe_arg(a) for a in record.args)
        record.msg = _redactor.text(record.getMessage())
        record.args = ()
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = _redactor.text(_formatter.formatException(record.exc_info))
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
