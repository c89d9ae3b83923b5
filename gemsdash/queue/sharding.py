"""Routing to shards, and every shard read as one view: a layer above the one-Redis code.

Each shard has its own Runtime (store, broker, connection) built like the process's own; an
operation on one job type or one job runs with `current_runtime()` pointing at that job's shard
(`routed_to`), so the admin, producer and read code written for one Redis needs no change. Reads of
the whole system ask every shard at once, one thread and one round trip per shard, and a shard
that does not answer marks its queues unavailable instead of failing the read.

Without GEMSDASH_SHARDS every function here is the plain one-Redis call.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from gemsdash.queue.errors import AmbiguousJobId, BackendUnavailable
from gemsdash.queue.ids import MIN_PREFIX, SHOWN_MATCHES
from gemsdash.queue.jobs import STATES, job_type
from gemsdash.queue.runtime import Runtime, build, configured, current_runtime, routed, routed_to
from gemsdash.queue.shards import DEFAULT_SHARD, ShardState, known_types
from gemsdash.queue.store import BUCKETS, QueueStats, Snapshot

P = ParamSpec("P")
T = TypeVar("T")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def home() -> Runtime:
    """The process's own runtime (its shard's), whatever an enclosing block was routed to."""
    own = configured()
    return own if own is not None else current_runtime()


def sharded() -> bool:
    """True when shards are configured and no enclosing block already chose one."""
    return routed() is None and bool(home().settings.shards)


def runtime_of(shard: str) -> Runtime:
    """Shard `shard`'s runtime, connected on first use; BackendUnavailable naming the shard when
    its Redis does not answer (tried again on the next use)."""
    own = home()
    if shard == own.shard:
        return own
    with _lock:
        peer = own.peers.get(shard)
    if peer is None:
        peer = build(own.settings.on_shard(shard), role="oneshot", peer=True)
        with _lock:
            kept = own.peers.setdefault(shard, peer)
        if kept is not peer and peer.client is not None:
            peer.client.close()
        peer = kept
    return peer


@contextmanager
def naming(runtime: Runtime) -> Iterator[None]:
    """A Redis failure inside names the shard (with shards configured): "shard 'pay': Redis ..."."""
    try:
        yield
    except BackendUnavailable as exc:
        if not runtime.settings.shards or str(exc).startswith("shard "):
            raise
        raise BackendUnavailable(f"shard {runtime.shard!r}: {exc}") from None


@contextmanager
def on(runtime: Runtime) -> Iterator[Runtime]:
    """`routed_to(runtime)`, its Redis failures naming its shard."""
    with naming(runtime), routed_to(runtime):
        yield runtime


def runtime_for(queue: str) -> Runtime:
    """The runtime of the shard that holds job type `queue`."""
    if not sharded():
        return current_runtime()
    return runtime_of(home().settings.shard_of(job_type(queue).queue))


def each_shard(read: Callable[[Runtime], T], shards: Sequence[str] | None = None) -> dict[str, T | Exception]:
    """`read` on every shard at once (one thread each); a shard that fails gives its exception."""
    global _pool
    names = list(shards) if shards is not None else home().settings.shard_names()

    def one(name: str) -> T | Exception:
        try:
            return read(runtime_of(name))
        except BackendUnavailable as exc:
            return exc

    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="gemsdash-shard")
        pool = _pool
    return dict(zip(names, pool.map(one, names), strict=True))


def routed_by(choose: Callable[..., Runtime]) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """A decorator running its function on the shard `choose(*args, **kwargs)` names (unsharded,
    or already inside a routed block: the function as it is)."""

    def decorate(action: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(action)
        def routed(*args: P.args, **kwargs: P.kwargs) -> T:
            if not sharded():
                return action(*args, **kwargs)
            with on(choose(*args, **kwargs)):
                return action(*args, **kwargs)

        return routed

    return decorate


def _schedule_owner(name: str, *_: object, **__: object) -> Runtime:
    """The shard that keeps schedule `name` (each shard asked at once); none: the process's own."""
    found = each_shard(lambda rt: bool(rt.store.schedule_list(name)[1]))
    return runtime_of(next((shard for shard, kept in found.items() if kept is True), home().shard))


#: `action(queue, ...)` on the shard of job type `queue`.
by_queue = routed_by(lambda queue, *_, **__: runtime_for(str(queue)))
#: `action(job_id, ...)` on the shard that holds the job (`locate`).
by_id = routed_by(lambda job_id, *_, **__: locate(str(job_id)))
#: `action(name, ...)` on the shard that keeps schedule `name`: a schedule lives on its job type's
#: shard, whose workers fire it in one script with the job it enqueues.
by_schedule = routed_by(_schedule_owner)
#: `action(name, job_type, ...)` (add_schedule) on the shard of `job_type`.
by_job_type = routed_by(lambda _name, job_type, *_, **__: runtime_for(str(job_type)))


def locate(job_id: str) -> Runtime:
    """The runtime of the shard holding the job that `job_id` (a full id or a prefix) names: every
    shard's id index is asked at once (one round trip each). No match: the process's own shard, so
    the caller says "not found"; unless a shard is down, which could hold it: then that is the error."""
    if len(job_id) < MIN_PREFIX:
        return home()
    found = each_shard(lambda rt: rt.store.find_ids(job_id, SHOWN_MATCHES + 1))
    matches = [(name, i) for name, ids in found.items() if not isinstance(ids, Exception) for i in ids]
    if len(matches) > 1:
        shown = [i for _, i in matches]
        raise AmbiguousJobId(job_id, shown[:SHOWN_MATCHES] + (["…"] if len(shown) > SHOWN_MATCHES else []))
    if matches:
        return runtime_of(matches[0][0])
    down = {name: exc for name, exc in found.items() if isinstance(exc, Exception)}
    if down:
        name, exc = next(iter(down.items()))
        raise BackendUnavailable(f"job {job_id} is on no shard that answers; shard {name!r} is down: {why(name, exc)}")
    return home()


def by_ids(action: Callable[[list[str]], tuple[int, list[str]]]) -> Callable[[list[str]], tuple[int, list[str]]]:
    """Run `action(job_ids)` once per shard with that shard's jobs (found with one read per shard,
    at once); ids no shard holds go to the process's own shard, which reports them as not done."""

    @functools.wraps(action)
    def routed(job_ids: list[str]) -> tuple[int, list[str]]:
        if not sharded():
            return action(job_ids)
        found = each_shard(lambda rt: rt.store.get_many(job_ids))
        owner: dict[str, str] = {}
        for name, records in found.items():
            if not isinstance(records, Exception):
                owner.update({r.id: name for r in records if r is not None})
        done, failed = 0, list[str]()
        for name in home().settings.shard_names():
            group = [i for i in job_ids if owner.get(i, home().shard) == name]
            if group:
                with on(runtime_of(name)):
                    count, missed = action(group)
                done, failed = done + count, failed + missed
        return done, [i for i in job_ids if i in set(failed)]

    return routed


def grouped(items: Sequence[T], queue_of: Callable[[T], str]) -> list[tuple[Runtime, list[T]]]:
    """`items` split by the shard of their job type, each with that shard's runtime."""
    if not sharded():
        return [(current_runtime(), list(items))]
    settings = home().settings
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(settings.shard_of(queue_of(item)), []).append(item)
    return [(runtime_of(name), group) for name, group in groups.items()]


def snapshot() -> Snapshot:
    """Every queue of every shard, read at once (one round trip per shard)."""
    if not sharded():
        return current_runtime().store.snapshot()
    return merge(each_shard(lambda rt: rt.store.snapshot()))


def merge(read: dict[str, Snapshot | Exception]) -> Snapshot:
    """One snapshot from each shard's: each queue's counts from the shard that holds it; the queues
    of a shard that did not answer are listed, empty, in `unavailable` with the reason."""
    settings = home().settings
    up = {name: s for name, s in read.items() if isinstance(s, Snapshot)}
    queues: dict[str, QueueStats] = {}
    unavailable: dict[str, str] = {}
    for queue in known_types():
        shard = settings.shard_of(queue)
        got = read.get(shard)
        if isinstance(got, Snapshot) and queue in got.queues:
            queues[queue] = got.queues[queue]
        else:
            queues[queue] = _empty(queue)
            unavailable[queue] = f"shard {shard!r} is down: {why(shard, got)}"
    default = up.get(DEFAULT_SHARD) or next(iter(up.values()), None)
    troubled = [
        s.memory
        for s in up.values()
        if s.memory is not None and (s.memory.out_of_memory or s.memory.policy != "noeviction")
    ]
    return Snapshot(
        taken_at=max((s.taken_at for s in up.values()), default=datetime.now(UTC)),
        queues=queues,
        workers=sum(s.workers for s in up.values()),
        worker_list=[w for s in up.values() for w in s.worker_list],
        stale_workers=sum(s.stale_workers for s in up.values()),
        memory=troubled[0] if troubled else (default.memory if default is not None else None),
        memory_error="; ".join(s.memory_error for s in up.values() if s.memory_error) or None,
        overdue_after_ms=max((s.overdue_after_ms for s in up.values()), default=0),
        paused=frozenset(q for name, s in up.items() for q in s.paused if settings.shard_of(q) == name),
        shards={name: shard_state(name, got) for name, got in read.items()},
        unavailable=unavailable,
        data_lost=next((s.data_lost for s in up.values() if s.data_lost is not None), None),
    )


def shard_state(name: str, read: object) -> ShardState:
    url = home().settings.on_shard(name).display_url
    return ShardState(url, False, why(name, read)) if isinstance(read, Exception) else ShardState(url, True, None)


def why(shard: str, failure: object) -> str:
    """A shard's failure without the "shard 'name': " its errors start with (said once, by the caller)."""
    return str(failure).removeprefix(f"shard {shard!r}: ")


def _empty(queue: str) -> QueueStats:
    return QueueStats(queue, {s: 0 for s in STATES}, [(0, 0)] * BUCKETS, None, None)


def view(queue: str, read_page: Callable[[Runtime], tuple[Snapshot, Any]]) -> tuple[Snapshot, Any]:
    """The dashboard's refresh: `read_page` (counts and one page, one round trip) on `queue`'s shard
    and the counts of the others, at once; the page is None when its shard did not answer."""
    if not sharded():
        return read_page(current_runtime())
    chosen = home().settings.shard_of(job_type(queue).queue)
    read = each_shard(lambda rt: read_page(rt) if rt.shard == chosen else (rt.store.snapshot(), None))
    page = read[chosen][1] if not isinstance(read[chosen], Exception) else None  # type: ignore[index]
    return merge({n: r if isinstance(r, Exception) else r[0] for n, r in read.items()}), page


def gathered(read: Callable[[Runtime], list[T]]) -> list[T]:
    """`read` on every shard that answers, concatenated (workers, audit entries, paused queues)."""
    if not sharded():
        return read(current_runtime())
    return [item for got in each_shard(read).values() if not isinstance(got, Exception) for item in got]


def without_unavailable(snap: Snapshot) -> Snapshot:
    """The snapshot with only the queues whose shard answered (metrics must not report zeros)."""
    if not snap.unavailable:
        return snap
    return replace(snap, queues={n: s for n, s in snap.queues.items() if n not in snap.unavailable})
