"""What a job's two per-job store calls, `start` and `succeed` (batches of 20, acks included), cost
Redis, measured outside any worker so that other processes' load moves the figures little:

    .venv/bin/python -m benchmarks.hot_calls [--jobs 5000]
        redis-server CPU (its rusage) and time inside EVALSHA (INFO commandstats) per job
    .venv/bin/python -m benchmarks.hot_calls --callgrind [--jobs 1000]
        instructions redis-server executes per job (valgrind's callgrind, user space only): the
        same on every run, whatever else the machine does; needs valgrind

Jobs are submitted with `add_jobs`' store call, fetched as a worker's consumer fetches them (so
their messages sit in an ack set), each started, then succeeded 20 a call with their acks. To
measure another tree (a `git archive` copy), run this file by path with that tree first on the
path, so that gemsdash and the harness come from it (a tree older than benchmarks/callgrind_redis.py
needs a copy of it):

    cp -n $REPO/benchmarks/callgrind_redis.py /tmp/before/benchmarks/
    (cd /tmp/before && PYTHONPATH=/tmp/before $REPO/.venv/bin/python $REPO/benchmarks/hot_calls.py)
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import dramatiq
import redis

from benchmarks.callgrind_redis import Callgrind, callgrind_redis
from benchmarks.harness import bench, gemsdash_runtime
from benchmarks.work import PAYLOAD
from gemsdash.queue import JOB_SPECS, JobRequest, JobType, add_jobs
from gemsdash.queue.messages import submission
from gemsdash.queue.redis_store import RedisJobStore
from gemsdash.queue.store import Delivery, Success

_BATCH = 20
_WORKER = "w1"


def _cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _succeed_all(store: RedisJobStore, messages: list[dramatiq.Message[Any]], worker: str) -> None:
    for at in range(0, len(messages), _BATCH):
        batch = messages[at : at + _BATCH]
        ended = int(time.time() * 1000)
        successes = [
            Success(m.message_id, '{"ok":1}', 3, ended, Delivery(worker, m.queue_name, m.options["redis_message_id"]))
            for m in batch
        ]
        assert store.succeed_many(successes) == len(batch)


def rusage(jobs: int) -> None:
    with bench() as b:
        rt = gemsdash_runtime(b, "m")
        for at in range(0, jobs, 1000):
            add_jobs([JobRequest(JobType.EMOTION_ANALYSIS, PAYLOAD)] * min(1000, jobs - at))
        store, client, broker = rt.store, b.client, rt.broker
        assert isinstance(store, RedisJobStore)
        queue = JobType.EMOTION_ANALYSIS.queue
        messages: list[dramatiq.Message[Any]] = []
        while len(messages) < jobs:
            fetched = broker.do_fetch(queue, 1000)  # type: ignore[attr-defined]
            if not fetched:
                break
            messages += [dramatiq.Message.decode(data) for data in fetched]
        client.config_resetstat()
        before = _cpu(client)
        for message in messages:
            assert store.start(message, _WORKER, None).verdict.value == "run"
        start_cpu = (_cpu(client) - before) / len(messages) * 1e6
        start_in = client.info("commandstats")["cmdstat_evalsha"]["usec"] / len(messages)
        client.config_resetstat()
        before = _cpu(client)
        _succeed_all(store, messages, broker.broker_id)  # type: ignore[attr-defined]
        succeed_cpu = (_cpu(client) - before) / len(messages) * 1e6
        succeed_in = client.info("commandstats")["cmdstat_evalsha"]["usec"] / len(messages)
        print(
            f"{len(messages)} jobs; per job: start {start_cpu:.1f} us Redis CPU ({start_in:.1f} in EVALSHA), "
            f"succeed {succeed_cpu:.1f} us ({succeed_in:.1f} in EVALSHA)"
        )


def callgrind(jobs: int, port: int) -> None:
    with callgrind_redis(port, "hot-calls-") as grind:
        client = grind.client
        store = RedisJobStore(
            client, namespace="m", finished_ttl=3600, dead_ttl=3600, worker_timeout_ms=30000, display_url="bench"
        )
        spec = JOB_SPECS[JobType.EMOTION_ANALYSIS]
        data = spec.validate_payload(PAYLOAD).model_dump(mode="json")
        subs = [submission(spec, data, json.dumps(data, separators=(",", ":")), spec.options()) for _ in range(jobs)]
        for at in range(0, jobs, 50):
            store.submit(subs[at : at + 50])
        messages = [s.message for s in subs]
        for m in messages:  # as a worker's fetch leaves them: in its ack set
            client.sadd(f"m:__acks__.{_WORKER}.{m.queue_name}", m.options["redis_message_id"])
        store.start(messages[0], _WORKER, None)  # scripts loaded, connection made
        grind.instrument(True)
        for m in messages[1:]:
            assert store.start(m, _WORKER, None).verdict.value == "run"
        grind.instrument(False)
        grind.dump("start")
        grind.instrument(True)
        _succeed_all(store, messages, _WORKER)
        grind.instrument(False)
        grind.dump("succeed")
        assert client.scard(f"m:__acks__.{_WORKER}.{messages[0].queue_name}") == 0
    start, succeed = grind.totals(1) / (jobs - 1), grind.totals(2) / jobs
    print(f"{jobs} jobs; redis-server instructions per job: start {start:,.0f}, succeed {succeed:,.0f}")


def _count_path(
    grind: Callgrind,
    jobs: int,
    fetch: Callable[[], list[Any]],
    after_fetch: Callable[[list[dramatiq.Message[Any]]], None],
    settle: Callable[[list[dramatiq.Message[Any]]], None],
) -> Callable[[], tuple[float, float]]:
    """A worker's path over the backlog (one job already through it), counted in two parts, each
    fetch (with `after_fetch` on its messages) and each `settle` of them. Returns what reads (fetch
    part, settle part) in redis-server instructions per job, once the server has stopped."""
    dumps = 0
    while True:
        grind.instrument(True)
        fetched = fetch()
        if not fetched:
            grind.instrument(False)
            break
        messages = [dramatiq.Message.decode(d) for d in fetched]
        after_fetch(messages)
        grind.instrument(False)
        grind.dump("fetch")  # odd dumps: the fetch part; even ones: the settle part
        grind.instrument(True)
        settle(messages)
        grind.instrument(False)
        grind.dump("settle")
        dumps += 2
    return lambda: (
        sum(grind.totals(n) for n in range(1, dumps + 1, 2)) / (jobs - 1),
        sum(grind.totals(n) for n in range(2, dumps + 1, 2)) / (jobs - 1),
    )


def callgrind_path(jobs: int, port: int, prefetch: int) -> None:
    """Instructions redis-server runs per job for a worker's whole path: its consumer's fetches
    (`prefetch` a call), each job's `start` (unless its fetch started it, as a worker's does for
    jobs that begin at once: the default) and `succeed` (batches of 20, acks included). With
    GEMSDASH_FOLD_START=0: the path without the fold (Dramatiq's dispatch fetch, then a `start` call
    per job); with GEMSDASH_FOLD_START=2, hot.lua's fetch without the starts (then a `start` call
    per job)."""
    import os

    from gemsdash.queue.redis_broker import GemsdashRedisBroker

    fold = os.environ.get("GEMSDASH_FOLD_START") != "0"
    with callgrind_redis(port, "hot-path-") as grind:
        client = grind.client
        store = RedisJobStore(
            client, namespace="m", finished_ttl=3600, dead_ttl=3600, worker_timeout_ms=30000, display_url="bench"
        )
        broker = GemsdashRedisBroker(middleware=[], client=client, namespace="m", maintenance_chance=0)
        broker.broker_id = _WORKER
        if fold:
            label = "" if os.environ.get("GEMSDASH_FOLD_START") == "2" else "label"
            broker.fetch_and_start = lambda rq, n, broker_id, room, token: store.fetch(
                rq, n, broker_id, label, room, token
            )
            broker.start_room = lambda rq, waiting: prefetch
        spec = JOB_SPECS[JobType.EMOTION_ANALYSIS]
        data = spec.validate_payload(PAYLOAD).model_dump(mode="json")
        subs = [submission(spec, data, json.dumps(data, separators=(",", ":")), spec.options()) for _ in range(jobs)]
        for at in range(0, jobs, 50):
            store.submit(subs[at : at + 50])
        queue = subs[0].message.queue_name
        # Scripts loaded, connections made: one job through the whole path before counting.
        first = dramatiq.Message.decode(broker.do_fetch(queue, 1)[0])
        if not broker.started_by_fetch(first):
            store.start(first, "label", None)
        _succeed_all(store, [first], _WORKER)
        started_by_fetch = 0

        def start_unstarted(messages: list[dramatiq.Message[Any]]) -> None:
            nonlocal started_by_fetch
            for m in messages:
                if broker.started_by_fetch(m):
                    started_by_fetch += 1
                else:
                    assert store.start(m, "label", None).verdict.value == "run"

        per_job = _count_path(
            grind,
            jobs,
            lambda: broker.do_fetch(queue, prefetch),
            start_unstarted,
            lambda m: _succeed_all(store, m, _WORKER),
        )
        assert client.scard(f"m:__acks__.{_WORKER}.{queue}") == 0
    fetch, succeed = per_job()
    print(
        f"{jobs - 1} jobs, fetched {prefetch} a call, {started_by_fetch} started by their fetch; "
        f"redis-server instructions per job: fetch + start {fetch:,.0f}, succeed {succeed:,.0f}, "
        f"together {fetch + succeed:,.0f}"
    )


def callgrind_plain(jobs: int, port: int, prefetch: int) -> None:
    """The same path for plain Dramatiq on the same kind of server: the backlog sent with
    `actor.send`, fetched `prefetch` a call (dispatch.lua's fetch, as its consumer does) and each
    message acked (dispatch.lua's ack, one call a message, as its worker does): the baseline the
    gemsdash path's figures are read against."""
    from benchmarks import plain_actors

    with callgrind_redis(port, "plain-path-") as grind:
        broker = plain_actors.broker(f"redis://127.0.0.1:{port}/0", "p")
        broker.maintenance_chance = 0
        actor = plain_actors.declare(broker)["noop"]
        for _ in range(jobs):
            actor.send(PAYLOAD)
        queue = plain_actors.QUEUE
        first = dramatiq.Message.decode(broker.do_fetch(queue, 1)[0])
        broker.do_ack(queue, first.options["redis_message_id"])

        def ack_each(messages: list[dramatiq.Message[Any]]) -> None:
            for m in messages:
                broker.do_ack(queue, m.options["redis_message_id"])

        per_job = _count_path(grind, jobs, lambda: broker.do_fetch(queue, prefetch), lambda m: None, ack_each)
        broker.close()
    fetch, ack = per_job()
    print(
        f"plain Dramatiq, {jobs - 1} jobs, fetched {prefetch} a call; redis-server instructions per job: "
        f"fetch {fetch:,.0f}, ack {ack:,.0f}, together {fetch + ack:,.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=0, help="jobs (default 5000, with --callgrind 1000)")
    parser.add_argument("--callgrind", action="store_true", help="count instructions under valgrind")
    parser.add_argument("--port", type=int, default=6489, help="the valgrind redis-server's port")
    parser.add_argument("--path", action="store_true", help="with --callgrind: fetch + start + succeed")
    parser.add_argument("--plain", action="store_true", help="with --path: plain Dramatiq's path instead")
    parser.add_argument("--prefetch", type=int, default=16, help="with --path: messages per fetch")
    args = parser.parse_args()
    if args.callgrind and args.path and args.plain:
        callgrind_plain(args.jobs or 1000, args.port, args.prefetch)
    elif args.callgrind and args.path:
        callgrind_path(args.jobs or 1000, args.port, args.prefetch)
    elif args.callgrind:
        callgrind(args.jobs or 1000, args.port)
    else:
        rusage(args.jobs or 5000)


if __name__ == "__main__":
    main()
