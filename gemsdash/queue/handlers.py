"""Declaring the Dramatiq actor of a job type from its spec, so its options are written once.

Job code (in `gemsdash.actors`) decorates a plain function taking the validated payload model and
returning a JSON-serialisable result; this module turns it into an actor that validates the
payload again at the worker (a hand-pushed message may hold anything) and stores the result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import dramatiq

from gemsdash.queue import context
from gemsdash.queue.errors import InvalidPayload, PermanentJobError
from gemsdash.queue.jobs import JOB_SPECS, JobType
from gemsdash.queue.payloads import Payload

P = TypeVar("P", bound=Payload)
Work = Callable[[Any], Any]

_actors: dict[JobType, dramatiq.Actor[..., None]] = {}
_work: dict[JobType, Work] = {}


def job_actor(job_type: JobType) -> Callable[[Callable[[P], Any]], dramatiq.Actor[..., None]]:
    """Declare the actor for `job_type`; the broker is configured first if it was not yet."""
    spec = JOB_SPECS[job_type]

    def declare(fn: Callable[[P], Any]) -> dramatiq.Actor[..., None]:
        from gemsdash.queue.runtime import current_runtime

        broker = current_runtime().broker
        _work[job_type] = fn

        def run(*args: Any, **kwargs: Any) -> None:
            if kwargs or len(args) != 1 or not isinstance(args[0], dict):
                raise PermanentJobError("wrong arguments: expected one payload object")
            try:
                payload = spec.validate_payload(args[0])
            except InvalidPayload as exc:
                raise PermanentJobError(str(exc)) from None
            context.set_result(_work[job_type](payload))

        run.__name__ = run.__qualname__ = job_type.actor_name
        run.__doc__ = fn.__doc__
        actor: dramatiq.Actor[..., None] = dramatiq.actor(
            actor_name=job_type.actor_name,
            queue_name=job_type.queue,
            broker=broker,
            max_retries=spec.attempts - 1,
            min_backoff=spec.backoff.min_ms,
            max_backoff=spec.backoff.max_ms,
            time_limit=spec.time_limit_ms,
            throws=(PermanentJobError,),
        )(run)
        _actors[job_type] = actor
        return actor

    return declare


def attach(broker: dramatiq.Broker) -> None:
    """Declare every known actor on a newly built broker (tests and fallbacks build several)."""
    for actor in _actors.values():
        actor.broker = broker
        broker.declare_actor(actor)


@contextmanager
def override_work(job_type: JobType, fn: Work) -> Iterator[None]:
    """Run `fn` instead of the job type's work, for tests of the machinery around it."""
    previous = _work.get(job_type)
    _work[job_type] = fn
    try:
        yield
    finally:
        if previous is None:
            _work.pop(job_type, None)
        else:
            _work[job_type] = previous
