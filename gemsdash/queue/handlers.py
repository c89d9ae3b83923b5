"""The Dramatiq actor of each registered job type, declared when a broker is built.

A job type's handler is a plain function taking the validated payload model and returning a
JSON-serialisable result (gemsdash.queue.registry); this module wraps it in an actor that
validates the payload again at the worker (a hand-pushed message may hold anything) and stores
the result. Declaring is explicit, done by the runtime for its broker: importing job code
declares nothing and touches no broker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dramatiq

from gemsdash.queue import context
from gemsdash.queue.errors import InvalidPayload, PermanentJobError
from gemsdash.queue.jobs import JobType
from gemsdash.queue.registry import JobTypeDefinition, definitions
from gemsdash.queue.stub_broker import EmbeddedStubBroker

Work = Callable[[Any], Any]

_actors: dict[str, dramatiq.Actor[..., None]] = {}
#: Tests replace a type's handler here (override_work), whichever broker runs it.
_overrides: dict[str, Work] = {}


def declare_actors(broker: dramatiq.Broker) -> list[dramatiq.Actor[..., None]]:
    """One actor per registered job type, on `broker` (tests and fallbacks build several brokers)."""
    _actors.clear()
    for definition in definitions().values():
        _actors[definition.name] = _actor(definition, broker)
    return list(_actors.values())


def _actor(definition: JobTypeDefinition, broker: dramatiq.Broker) -> dramatiq.Actor[..., None]:
    name = definition.name
    # Memory mode: the producer's own model when the message still holds what it validated.
    vouched = broker.vouched if isinstance(broker, EmbeddedStubBroker) else None

    def run(*args: Any, **kwargs: Any) -> None:
        if kwargs or len(args) != 1 or not isinstance(args[0], dict):
            raise PermanentJobError("wrong arguments: expected one payload object")
        payload = vouched.take(context.active_id(), args[0]) if vouched is not None else None
        try:
            if payload is None:
                payload = definition.validate_payload(args[0])
        except InvalidPayload as exc:
            raise PermanentJobError(str(exc)) from None
        context.set_result(_overrides.get(name, definition.handler)(payload))

    job_type = definition.job_type
    run.__name__ = run.__qualname__ = job_type.actor_name
    run.__doc__ = definition.handler.__doc__
    actor: dramatiq.Actor[..., None] = dramatiq.actor(
        actor_name=job_type.actor_name,
        queue_name=job_type.queue,
        broker=broker,
        max_retries=definition.attempts - 1,
        min_backoff=definition.backoff.min_ms,
        max_backoff=definition.backoff.max_ms,
        time_limit=definition.time_limit_ms,
        throws=(PermanentJobError,),
    )(run)
    return actor


def actor_of(job_type: JobType | str) -> dramatiq.Actor[..., None]:
    """The actor the current runtime declared for `job_type` (tests send raw messages through it)."""
    return _actors[JobType(job_type)]


@contextmanager
def override_work(job_type: JobType | str, fn: Work) -> Iterator[None]:
    """Run `fn` instead of the job type's handler, for tests of the machinery around it."""
    name = str(job_type)
    previous = _overrides.get(name)
    _overrides[name] = fn
    try:
        yield
    finally:
        if previous is None:
            _overrides.pop(name, None)
        else:
            _overrides[name] = previous
