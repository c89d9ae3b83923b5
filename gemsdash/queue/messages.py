"""Building the record and the Dramatiq message for a job, and naming the Redis lists it waits in."""

from __future__ import annotations

import contextlib
import functools
import json
import uuid
from collections.abc import Mapping
from typing import Any

from dramatiq import Message
from dramatiq.common import dq_name, q_name
from pydantic_core import PydanticCustomError

from gemsdash.queue.jobs import (
    PRIORITIES_HIGH_FIRST,
    QUEUES,
    JobOptions,
    JobState,
    JobType,
    Priority,
    now_ms,
)
from gemsdash.queue.payloads import TooDeep, find_card_number, snake_case
from gemsdash.queue.redaction import Redactor, raw_evidence
from gemsdash.queue.registry import JobSpec, JobTypeDefinition, definitions
from gemsdash.queue.store import StoredJob, Submission

#: What a record built from a message alone (one that did not come through gemsdash) keeps of its
#: payload: above this, its size, digest and scrubbed head, as for a malformed message.
FALLBACK_PAYLOAD_MAX = 64 * 1024


def physical_queues(queue: str) -> list[str]:
    """The Dramatiq queues of one job type, highest priority first."""
    return [p.queue_for(queue) for p in PRIORITIES_HIGH_FIRST]


def all_physical_queues(*, with_delay: bool) -> list[str]:
    names = [rq for q in QUEUES for rq in physical_queues(q)]
    return names + [dq_name(n) for n in names] if with_delay else names


def job_message(spec: JobSpec, payload: dict[str, Any], options: JobOptions, job_id: str) -> Message[Any]:
    """The Dramatiq message for a job: retries and backoff travel as per-message options."""
    return Message(
        queue_name=options.priority.queue_for(spec.job_type.queue),
        actor_name=spec.job_type.actor_name,
        args=(payload,),
        kwargs={},
        options={
            "max_retries": options.attempts - 1,
            "min_backoff": options.backoff.min_ms,
            "max_backoff": options.backoff.max_ms,
            # Only when asked: a message without it waits exactly what its backoff says.
            **({"jitter": options.backoff.jitter} if options.backoff.jitter else {}),
        },
        message_id=job_id,
    )


def new_record(spec: JobSpec, payload_json: str, options: JobOptions, job_id: str) -> StoredJob:
    created = now_ms()
    state = JobState.DELAYED if options.delay else JobState.QUEUED
    return {
        "id": job_id,
        "type": spec.job_type.value,
        "queue": spec.job_type.queue,
        "state": state.value,
        "priority": options.priority.value,
        "payload": payload_json,
        "attempts": 0,
        "max_attempts": options.attempts,
        "created_at": created,
        "next_attempt_at": created + options.delay if options.delay else None,
        # Jitter only when asked, so that records of jobs without it keep their shape.
        "backoff": options.backoff.model_dump(exclude={"jitter"} if not options.backoff.jitter else set()),
        "timeline": [[state.value, created, None]],
    }


def submission(spec: JobSpec, data: dict[str, Any], encoded: str, options: JobOptions, model: Any = None) -> Submission:
    """`data` is the validated payload as JSON-ready values, `encoded` the same as JSON text, `model`
    the model they were dumped from."""
    job_id = str(uuid.uuid4())
    return Submission(
        record=new_record(spec, encoded, options, job_id),
        message=job_message(spec, data, options, job_id),
        delay_ms=options.delay,
        model=model,
    )


def scrubbed(message: Message[Any]) -> Message[Any] | None:
    """A copy without its arguments when they hold a raw card number (which must never be kept) or
    are larger than a record keeps (`FALLBACK_PAYLOAD_MAX`), else None. Only messages that bypassed
    the producer's validation can hold either."""
    try:
        field = find_card_number([message.args, message.kwargs])
    except TooDeep:
        return message.copy(args=({"redacted": "payload nested too deep to inspect"},), kwargs={})
    if field is not None:
        return message.copy(args=({"redacted": "raw card number in the payload"},), kwargs={})
    encoded = json.dumps([message.args, message.kwargs], separators=(",", ":"), default=str)
    if len(encoded) > FALLBACK_PAYLOAD_MAX:
        kept = raw_evidence(encoded.encode(), Redactor(), [message.args, message.kwargs], was_parsed=True)
        return message.copy(args=({"oversized_payload": kept},), kwargs={})
    return None


def fallback_record(message: Message[Any]) -> StoredJob:
    """A record for a message that reached a worker without one (pushed by hand, or expired).

    Built from the message alone so the job can still be shown and dead-lettered with a reason.
    """
    message = scrubbed(message) or message
    queue = canonical_queue(message.queue_name)
    args = message.args[0] if message.args and isinstance(message.args[0], dict) else {"args": list(message.args)}
    if queue in definitions():  # the seed's camelCase spellings, stored as every record is: snake_case
        with contextlib.suppress(PydanticCustomError):
            args = snake_case(definitions()[queue].payload_model, args)
    created = message.message_timestamp if isinstance(message.message_timestamp, int) else now_ms()
    priority = next((p for p in Priority if p.queue_for(queue) == q_name(message.queue_name)), Priority.NORMAL)
    return {
        "id": message.message_id,
        "type": queue,
        "queue": queue,
        "state": JobState.QUEUED.value,
        "priority": priority.value,
        "payload": json.dumps(args, separators=(",", ":"), default=str),
        "attempts": 0,
        "max_attempts": int(message.options.get("max_retries", 0)) + 1,
        "created_at": created,
        "timeline": [[JobState.QUEUED.value, created, "no record: message did not come through gemsdash"]],
    }


@functools.lru_cache(maxsize=1024)
def canonical_queue(physical: str) -> str:
    """`payment-processing.high.DQ` -> `payment-processing` (cached: every job asks, twice)."""
    name = q_name(physical)
    for priority in Priority:
        suffix = "." + priority.value
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


#: Physical queue -> registered job type, for the registry loaded in `_types_of` (a reload starts
#: afresh); a queue of no registered type is not kept.
_types_by_queue: dict[str, JobType] = {}
_types_of: Mapping[str, JobTypeDefinition] | None = None


def job_type_of_queue(physical: str) -> JobType | None:
    """The registered job type whose queue `physical` is (any priority, its delay queue), or None.
    The worker asks for every job: `JobType(canonical_queue(q))` cost a no-op job in memory mode
    about 13k instructions (a metaclass call, an import statement, the registry's look-up)."""
    global _types_of
    known = definitions()
    if known is not _types_of:
        _types_by_queue.clear()
        _types_of = known
    found = _types_by_queue.get(physical)
    if found is None:
        name = canonical_queue(physical)
        if name not in known:
            return None
        found = _types_by_queue[physical] = JobType.unchecked(name)
    return found
