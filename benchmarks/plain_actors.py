"""The plain-Dramatiq side: one actor per kind of work on a plain RedisBroker with Dramatiq's
default middleware, declared on the broker it is given (the worker's, or the producer's)."""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from benchmarks.work import WORKS, perform

QUEUE = "bench"


def declare(broker: dramatiq.Broker) -> dict[str, dramatiq.Actor[..., None]]:
    """Work name -> actor; each actor takes the same payload dict as the gemsdash job."""
    actors: dict[str, dramatiq.Actor[..., None]] = {}
    for name, seconds in WORKS.items():

        def run(payload: dict[str, Any], _seconds: float = seconds) -> None:
            perform(_seconds)

        actors[name] = dramatiq.actor(run, actor_name=f"bench_{name}", queue_name=QUEUE, broker=broker)
    return actors


def broker(url: str, namespace: str) -> RedisBroker:
    return RedisBroker(url=url, namespace=namespace)  # type: ignore[no-untyped-call]
