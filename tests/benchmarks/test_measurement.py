"""The benchmark's own measuring: if these were wrong, every figure in benchmarks/RESULTS.md would be."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from benchmarks import roundtrips
from benchmarks.report import Results, redis_cost
from benchmarks.throughput import Sample, Throughput, _window


@pytest.fixture
def counting() -> Iterator[None]:
    roundtrips.install()
    try:
        yield
    finally:
        roundtrips.uninstall()


def test_a_pipeline_is_one_round_trip_and_each_command_another(
    counting: None, redis_client: redis.Redis, namespace: str
) -> None:
    redis_client.ping()  # connection open, handshake done
    before = roundtrips.count()
    redis_client.set(f"{namespace}:a", 1)
    redis_client.get(f"{namespace}:a")
    assert roundtrips.count() - before == 2

    before = roundtrips.count()
    pipe = redis_client.pipeline(transaction=True)
    for i in range(50):
        pipe.incr(f"{namespace}:n{i}")
    pipe.execute()
    assert roundtrips.count() - before == 1


def test_the_steady_window_leaves_out_start_up_and_tail() -> None:
    # 1,000 jobs: nothing for 2 s (workers starting), then 100 jobs/s, with a slow last 10%.
    samples = [Sample(0.0, 1000, 0.0, 0.0), Sample(2.0, 1000, 0.0, 0.0)]
    samples += [Sample(2.0 + t, 1000 - 100 * t, 0.01 * t, 0.002 * t) for t in range(1, 10)]
    samples.append(Sample(30.0, 0, 1.0, 1.0))
    steady = _window(samples, 1000, 0.1, 0.9)
    assert steady.rate == pytest.approx(100.0)
    assert steady.worker_cpu_us_per_job == pytest.approx(100.0)  # 0.01 s per 100 jobs
    assert steady.redis_cpu_us_per_job == pytest.approx(20.0)
    drain = _window(samples, 1000, 0.0, 1.0)
    assert drain.rate == pytest.approx(900 / 27.0)  # from the first sample with jobs done (t=3) to the end (t=30)


def _ceiling_round(side: str, us: float, round_no: int) -> Throughput:
    return Throughput(
        side=side,
        label=side,
        round=round_no,
        work="noop" if side == "dramatiq" else "emotion",
        jobs=10_000,
        processes=2,
        threads=8,
        steady_rate=1.0,
        drain_rate=1.0,
        worker_cpu_us_per_job=1.0,
        redis_cpu_us_per_job=us,
        commands_per_job=1.0,
        scripts_per_job=1.0,
        round_trips_per_job=1.0,
        redis_server_us_per_job=1.0,
        commands={},
    )


def test_the_ceiling_row_shows_every_round_it_is_the_median_of() -> None:
    res = Results(command="python -m benchmarks", settings="", load_before=(0.0, 0.0, 0.0))
    res.ceiling = [
        _ceiling_round("dramatiq", 60.0, 0),
        _ceiling_round("gemsdash", 74.2, 0),
        _ceiling_round("gemsdash", 54.0, 1),
        _ceiling_round("dramatiq", 49.0, 1),
        _ceiling_round("dramatiq", 52.0, 2),
        _ceiling_round("gemsdash", 64.0, 2),
    ]
    text = "\n".join(redis_cost(res))
    # The median of 74.2, 54 and 64 µs is 64: 1 s / 64 µs.
    assert "| 15,625 jobs/s |" in text and "| met |" in text
    assert "dramatiq 60, 49, 52; gemsdash 74, 54, 64." in text
