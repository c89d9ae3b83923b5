"""Enqueueing jobs: validate everything first, then write record and message in one round trip.

An invalid payload raises InvalidPayload naming the field; nothing is enqueued and no record is
written. A batch (`add_jobs`) is validated whole before any of it is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gemsdash.queue.errors import InvalidPayload, ReadOnlyMode
from gemsdash.queue.jobs import Backoff, JobType, Priority
from gemsdash.queue.messages import submission
from gemsdash.queue.registry import spec_for
from gemsdash.queue.runtime import current_runtime
from gemsdash.queue.sharding import grouped, naming
from gemsdash.queue.store import Submission


@dataclass(frozen=True)
class JobRequest:
    job_type: JobType | str
    payload: dict[str, Any] | Any
    priority: Priority | str | None = None
    delay: int | None = None
    attempts: int | None = None
    backoff: Backoff | dict[str, Any] | None = field(default=None)


def prepare(request: JobRequest, limit: int) -> Submission:
    """Validate one request into a submission (payloads up to `limit` bytes), or raise InvalidPayload."""
    spec = spec_for(request.job_type)
    options = spec.options(
        priority=request.priority, delay=request.delay, attempts=request.attempts, backoff=request.backoff
    )
    model = spec.validate_payload(request.payload)
    data = model.model_dump(mode="json")
    encoded = json.dumps(data, separators=(",", ":"))
    size = len(encoded.encode())
    if size > limit:
        raise InvalidPayload(spec.job_type.value, [("payload", f"is {size} bytes; the limit is {limit} bytes")])
    return submission(spec, data, encoded, options, model)


def add_jobs(requests: Iterable[JobRequest]) -> list[str]:
    """Enqueue many jobs in one pipelined round trip (with shards: one per shard, each shard's jobs
    written together); returns their ids in order."""
    runtime = current_runtime()
    if runtime.settings.read_only:
        raise ReadOnlyMode("enqueue")
    limit = runtime.settings.max_payload_bytes
    submissions = [prepare(r, limit) for r in requests]
    for shard, group in grouped(submissions, lambda s: str(s.record["queue"])):
        with naming(shard):
            shard.store.submit(group)
    return [s.record["id"] for s in submissions]


def add_job(
    job_type: JobType | str,
    payload: dict[str, Any] | Any,
    *,
    priority: Priority | str | None = None,
    delay: int | None = None,
    attempts: int | None = None,
    backoff: Backoff | dict[str, Any] | None = None,
) -> str:
    """Enqueue one job; `delay` in ms, `attempts` counts the first try, `backoff` is
    `{"type": "exponential"|"fixed", "delay": ms}`. Returns the job id."""
    return add_jobs([JobRequest(job_type, payload, priority, delay, attempts, backoff)])[0]


def queue_sketch_generation(
    prompt: str, *, user_id: str, style: str = "line-art", quality: str = "medium", **options: Any
) -> str:
    payload = {"prompt": prompt, "style": style, "quality": quality, "user_id": user_id}
    return add_job(JobType.SKETCH_GENERATION, payload, **options)


def analyze_emotion(
    *,
    user_id: str,
    text: str | None = None,
    image_path: str | None = None,
    analysis_type: str | None = None,
    **options: Any,
) -> str:
    kind = analysis_type or ("combined" if text and image_path else "image" if image_path else "text")
    payload: dict[str, Any] = {"analysis_type": kind, "user_id": user_id}
    if text is not None:
        payload["text"] = text
    if image_path is not None:
        payload["image_path"] = image_path
    return add_job(JobType.EMOTION_ANALYSIS, payload, **options)


def send_email(
    to: str, template: str, context: dict[str, Any] | None = None, *, user_id: str | None = None, **options: Any
) -> str:
    payload: dict[str, Any] = {"to": to, "template": template, "context": context or {}}
    if user_id is not None:
        payload["user_id"] = user_id
    return add_job(JobType.EMAIL_NOTIFICATION, payload, **options)


def send_welcome_email(email: str, name: str, user_id: str | None = None, **options: Any) -> str:
    """The seed's helper: a `welcome` email to a new user."""
    return send_email(email, "welcome", {"name": name}, user_id=user_id, **options)


def process_payment(
    *,
    payment_id: str,
    operation: str,
    amount: int,
    currency: str,
    payment_method: str,
    idempotency_key: str,
    **options: Any,
) -> str:
    payload = {
        "payment_id": payment_id,
        "operation": operation,
        "amount": amount,
        "currency": currency,
        "payment_method": payment_method,
        "idempotency_key": idempotency_key,
    }
    return add_job(JobType.PAYMENT_PROCESSING, payload, **options)
