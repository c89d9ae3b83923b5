"""The plain-Dramatiq side, run as `python -m dramatiq benchmarks.plain_worker` with REDIS_URL and
BENCH_NAMESPACE set: a plain RedisBroker, its default middleware, and the benchmark actors."""

from __future__ import annotations

from benchmarks import roundtrips

roundtrips.install()

import os  # noqa: E402

import dramatiq  # noqa: E402

from benchmarks.plain_actors import broker, declare  # noqa: E402

BROKER = broker(os.environ["REDIS_URL"], os.environ["BENCH_NAMESPACE"])
BROKER.add_middleware(roundtrips.RoundTripReport())
dramatiq.set_broker(BROKER)
ACTORS = declare(BROKER)
