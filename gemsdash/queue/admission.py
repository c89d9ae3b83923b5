"""Which fetched messages a worker may run: the checks made on every message taken from a Redis
queue, before Dramatiq decodes it or holds it in memory.

Anyone who can write to Redis can push a message that gemsdash never produced. Dramatiq trusts a
message's options (retries, backoff, eta, callbacks, time limit...) and its actor name; gemsdash's
producer only ever writes the few options below, within the bounds of `JobOptions`, for the actor
of the queue the message is in. A message that does not fit is refused: it goes to the dead-letter
queue with a `dead` record saying why (see `GemsdashRedisBroker.do_fetch`), and never runs, never
waits in a worker's memory, and never shows as a job of another type.

Reasons name the part that is wrong, never its value (which may be a secret, or megabytes long).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from gemsdash.queue.jobs import MAX_ATTEMPTS, MAX_DELAY_MS, QUEUES, JobType
from gemsdash.queue.messages import canonical_queue
from gemsdash.queue.registry import JOB_SPECS

#: An eta may lie this far past the longest delay gemsdash gives (clocks of producers differ).
ETA_MARGIN_MS = 3600 * 1000
#: How far ahead an eta may be: the longest delay or backoff, plus the margin.
ETA_HORIZON_MS = MAX_DELAY_MS + ETA_MARGIN_MS

#: The options gemsdash (and Dramatiq's Retries middleware, on gemsdash's behalf) writes. Any other
#: (`pipe_target`, `on_success`, `time_limit`, `max_age`, ...) would make a worker do what no
#: producer asked for: enqueue other actors, run without a time limit, and so on.
ALLOWED_OPTIONS = frozenset(
    {
        "redis_message_id",
        "retries",
        "max_retries",
        "min_backoff",
        "max_backoff",
        "jitter",
        "eta",
        "requeue_timestamp",
        "traceback",
    }
)
#: Larger messages are refused unread (or twice GEMSDASH_MAX_PAYLOAD_BYTES, when that is larger).
MAX_MESSAGE_BYTES = 1024 * 1024


def message_limit(max_payload_bytes: int) -> int:
    """The largest fetched message a worker reads, for the producers' payload limit."""
    return max(MAX_MESSAGE_BYTES, 2 * max_payload_bytes + 64 * 1024)


_FIELDS = ("queue_name", "actor_name", "args", "kwargs", "options", "message_id", "message_timestamp")
_FIELD_SET = frozenset(_FIELDS)
_TYPES = (("queue_name", str), ("actor_name", str), ("args", list), ("kwargs", dict), ("message_id", str))
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class Refusal:
    """Why a fetched message cannot run. `kind` is the record's error type."""

    kind: str
    reason: str
    #: The message's own id, when it has a usable one (to find the job it claims to be).
    message_id: str = ""
    #: The message as JSON, when it is JSON (its values are shown masked, not its raw text).
    parsed: Any = field(default=None, repr=False)
    was_parsed: bool = False


def _malformed(reason: str, parsed: Any = None, *, was_parsed: bool = False) -> Refusal:
    return Refusal("MalformedMessage", f"malformed message: {reason}", parsed=parsed, was_parsed=was_parsed)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _name(value: str) -> str:
    """An option or actor name as it may appear in a reason: only if it is a plain name."""
    return repr(value) if _SAFE_NAME.fullmatch(value) else "(a name that is not shown)"


def inspect_fetched(
    data: bytes, physical_queue: str, now_ms: int, max_bytes: int = MAX_MESSAGE_BYTES
) -> Refusal | None:
    """None when `data`, fetched from `physical_queue`, is a message gemsdash could have written;
    otherwise why not."""
    if len(data) > max_bytes:
        return Refusal("InvalidMessage", f"invalid message: larger than {max_bytes // 1024} KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _malformed("not UTF-8 text")
    try:
        fields = json.loads(text)
    except json.JSONDecodeError as exc:
        return _malformed(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")
    except RecursionError:
        return _malformed("not JSON (nested too deep)")
    if not isinstance(fields, dict):
        return _malformed(f"not a message (a JSON {type(fields).__name__})", fields, was_parsed=True)
    missing = [f for f in _FIELDS if f not in fields]
    extra = len(fields.keys() - _FIELD_SET)
    if missing or extra:
        parts = [f"missing {', '.join(missing)}"] if missing else []
        parts += [f"{extra} unknown field(s)"] if extra else []
        return _malformed(f"not a message ({'; '.join(parts)})", fields, was_parsed=True)
    refusal = _check(fields, physical_queue, now_ms)
    if refusal is None:
        return None
    message_id = fields["message_id"] if isinstance(fields["message_id"], str) else ""
    message_id = message_id if _SAFE_ID.fullmatch(message_id) else ""
    return Refusal(refusal[0], refusal[1], message_id, fields, was_parsed=True)


def _check(fields: dict[str, Any], physical_queue: str, now_ms: int) -> tuple[str, str] | None:
    options = fields["options"]
    if not isinstance(options, dict):
        return "MalformedMessage", "malformed message: options is not an object"
    if "redis_message_id" not in options:
        return "MalformedMessage", "malformed message: no redis_message_id"
    for name, kind in _TYPES:
        if not isinstance(fields[name], kind):
            return "MalformedMessage", f"malformed message: {name} is not a {kind.__name__}"
    if not _is_int(fields["message_timestamp"]):
        return "MalformedMessage", "malformed message: message_timestamp is not an integer"
    if not isinstance(options["redis_message_id"], str):
        return "MalformedMessage", "malformed message: redis_message_id is not a string"
    reason = _forged(fields, options, physical_queue, now_ms)
    return ("InvalidMessage", f"invalid message: {reason}") if reason else None


@functools.lru_cache(maxsize=256)
def _expected(physical_queue: str) -> tuple[str, str, int] | None:
    """(job type's queue, its actor, its default max_retries) for a physical queue of gemsdash's."""
    queue = canonical_queue(physical_queue)
    if queue not in QUEUES:
        return None
    job_type = JobType(queue)
    return queue, job_type.actor_name, JOB_SPECS[job_type].attempts - 1


def _forged(fields: dict[str, Any], options: dict[str, Any], physical_queue: str, now_ms: int) -> str | None:
    """What in a well-formed message does not fit the queue it was fetched from, if anything."""
    if not _SAFE_ID.fullmatch(fields["message_id"]):
        return "message_id is not a job id"
    if fields["queue_name"] != physical_queue:
        return f"it names queue {_name(fields['queue_name'])} but waits in {physical_queue!r}"
    expected = _expected(physical_queue)
    if expected is None:
        return f"{physical_queue!r} is not a gemsdash queue"
    queue, actor, default_max_retries = expected
    if fields["actor_name"] != actor:
        return f"actor {_name(fields['actor_name'])} does not belong on queue {queue!r} (its actor is {actor!r})"
    unknown = sorted(options.keys() - ALLOWED_OPTIONS)
    if unknown:
        return f"option {_name(unknown[0])} is not one gemsdash sets"
    for name in ("retries", "max_retries", "min_backoff", "max_backoff", "eta", "requeue_timestamp"):
        if name in options and not _is_int(options[name]):
            return f"option {name!r} is not an integer"
    max_retries = options.get("max_retries", default_max_retries)
    if not 0 <= max_retries <= MAX_ATTEMPTS - 1:
        return f"max_retries is outside 0..{MAX_ATTEMPTS - 1}"
    if not 0 <= options.get("retries", 0) <= max_retries:
        return "retries is negative or above max_retries"
    for name in ("min_backoff", "max_backoff"):
        if name in options and not 1 <= options[name] <= MAX_DELAY_MS:
            return f"{name} is outside 1..{MAX_DELAY_MS} ms"
    if options.get("min_backoff", 1) > options.get("max_backoff", MAX_DELAY_MS):
        return "min_backoff is above max_backoff"
    if not 0 <= fields["message_timestamp"] <= now_ms + ETA_MARGIN_MS:
        # It becomes the record's created_at: a year past 9999 (or before 1) broke every listing.
        return "message_timestamp is not a time of this era"
    if "jitter" in options:
        jitter = options["jitter"]
        if not isinstance(jitter, int | float) or isinstance(jitter, bool) or not 0 <= jitter <= 1:
            return "option 'jitter' is not a number in 0..1"
    eta = options.get("eta", 0)
    if eta < 0:
        return "eta is negative"
    if eta > now_ms + ETA_HORIZON_MS:
        return f"eta is more than {ETA_HORIZON_MS // 3_600_000} hours ahead"
    if "eta" in options and not physical_queue.endswith(".DQ"):
        # Dramatiq drops the eta when a due message moves to its queue; one found there is held in
        # the worker's memory until then, and holds one of its few prefetch slots: a handful with
        # a 6-day eta stopped the queue's consumer for 6 days, with no record to show why.
        return "option 'eta' outside a delay queue"
    if "traceback" in options and not isinstance(options["traceback"], str):
        return "option 'traceback' is not a string"
    return None
