"""The all-states view and searches read a bounded amount per call, and still give the order and
the matches an unindexed read of every record gives."""

from __future__ import annotations

import time

import pytest

from gemsdash.queue import JobType, Runtime, add_jobs, cancel_jobs, list_jobs
from gemsdash.queue.keys import TEMPLATES
from gemsdash.queue.producer import JobRequest
from gemsdash.queue.redis_store.store import RedisJobStore
from tests.core.workload import email

QUEUE = "email-notification"


@pytest.mark.parametrize("mode", ["memory", "redis"])
def test_an_all_states_page_at_a_deep_offset_is_the_unindexed_order(request: pytest.FixtureRequest, mode: str) -> None:
    runtime: Runtime = request.getfixturevalue(f"{mode}_runtime")
    ids = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"deep{i}"), delay=600_000) for i in range(900)])
    # Every third job changes state after the later ones were created: by when jobs entered their
    # state it would come first; by creation it keeps its place.
    cancelled, refused = cancel_jobs(ids[::3])
    assert (cancelled, refused) == (300, [])
    everything = [runtime.store.get(i) for i in ids]
    unindexed = sorted((j for j in everything if j is not None), key=lambda j: (j.created_at, j.id), reverse=True)
    for offset in (0, 250, 700, 880):
        page = list_jobs(QUEUE, None, limit=50, offset=offset)
        assert page.total == 900
        assert [j.id for j in page.jobs] == [j.id for j in unindexed[offset : offset + 50]]


@pytest.mark.parametrize("mode", ["memory", "redis"])
def test_a_search_over_many_steps_finds_each_match_once(request: pytest.FixtureRequest, mode: str) -> None:
    """The search window is read in several bounded calls (Redis): the matches are those of one read."""
    runtime: Runtime = request.getfixturevalue(f"{mode}_runtime")
    requests = [
        JobRequest(
            JobType.EMAIL_NOTIFICATION,
            {**email(f"u{i}"), "user_id": f"needle-{i}" if i % 7 == 0 else f"hay-{i}"},
            delay=600_000,
        )
        for i in range(1200)
    ]
    ids = add_jobs(requests)
    matching = [runtime.store.get(ids[i]) for i in range(1200) if i % 7 == 0]
    wanted = [j.id for j in sorted((j for j in matching if j), key=lambda j: (j.created_at, j.id), reverse=True)]
    seen = []
    for offset in range(0, 200, 40):
        page = list_jobs(QUEUE, None, limit=40, offset=offset, search="needle-")
        assert page.total == len(wanted)
        seen += [j.id for j in page.jobs]
    assert seen == wanted


def test_records_from_before_the_indexes_existed_are_backfilled_by_recovery(redis_runtime: Runtime) -> None:
    """An upgrade from a version without the all-states and id-prefix indexes: recovery passes copy
    the records the state indexes hold into them, in bounded steps, until the cursor says done."""
    store = redis_runtime.store
    assert isinstance(store, RedisJobStore)
    ids = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"old{i}"), delay=600_000) for i in range(450)])
    cancel_jobs(ids[::4])
    store.client.delete(store.keys.ids(), TEMPLATES["all_states"].format(ns=store.namespace, queue=QUEUE))
    assert list_jobs(QUEUE, None, limit=10).jobs == [] and store.find_ids(ids[7][:12], 5) == []

    backfill = TEMPLATES["backfill"].format(ns=store.namespace, queue=QUEUE)
    for _ in range(400):  # one queue per pass, in turn by the second: a few seconds of passes
        store.recover()
        if store.client.get(backfill) == b"done":
            break
        time.sleep(0.05)
    assert store.client.get(backfill) == b"done"
    everything = [store.get(i) for i in ids]
    unindexed = sorted((j for j in everything if j is not None), key=lambda j: (j.created_at, j.id), reverse=True)
    page = list_jobs(QUEUE, None, limit=50, offset=200)
    assert page.total == 450 and [j.id for j in page.jobs] == [j.id for j in unindexed[200:250]]
    assert store.find_ids(ids[7][:12], 5) == [ids[7]]
    store.recover()  # once done, a pass leaves the indexes as they are
    assert store.client.zcard(TEMPLATES["all_states"].format(ns=store.namespace, queue=QUEUE)) == 450
