"""The all-states view and searches read a bounded amount per call, and still give the order and
the matches an unindexed read of every record gives."""

from __future__ import annotations

import pytest

from gemsdash.queue import JobType, Runtime, add_jobs, cancel_jobs, list_jobs
from gemsdash.queue.producer import JobRequest
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
