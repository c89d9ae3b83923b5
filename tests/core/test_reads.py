"""Dashboard reads cost O(queues), in one round trip, however many jobs there are."""

from __future__ import annotations

import json

import pytest

from gemsdash.queue import (
    InvalidSearch,
    JobState,
    JobType,
    Runtime,
    add_jobs,
    dashboard_view,
    list_jobs,
    queue_stats,
)
from gemsdash.queue.producer import JobRequest
from tests.core.workload import email
from tests.support import round_trips


def test_a_dashboard_refresh_is_one_round_trip_and_the_page_agrees_with_the_counts(redis_runtime: Runtime) -> None:
    add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"j{i}")) for i in range(120)])
    dashboard_view("email-notification", "queued", limit=50)  # loads the script once
    with round_trips() as trips:
        snapshot, page = dashboard_view("email-notification", "queued", limit=50, offset=50)
    assert trips[0] == 1
    assert snapshot.queues["email-notification"].counts[JobState.QUEUED] == page.total == 120
    assert len(page.jobs) == 50
    with round_trips() as trips:
        queue_stats()
    assert trips[0] == 1


def test_pages_by_rank_cover_every_job_once(redis_runtime: Runtime) -> None:
    ids = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"j{i}")) for i in range(230)])
    listed = []
    for offset in range(0, 300, 50):
        listed += list_jobs("email-notification", "queued", limit=50, offset=offset).jobs
    assert sorted(j.id for j in listed) == sorted(ids)
    created = [j.created_at for j in listed]
    assert created == sorted(created, reverse=True)  # newest first


@pytest.mark.parametrize("mode", ["memory", "redis"])
def test_the_average_duration_leaves_out_jobs_that_never_ran(request: pytest.FixtureRequest, mode: str) -> None:
    """A job that went dead without running (a malformed message, an unknown actor) has no duration:
    counting it would drag the queue's average towards zero."""
    rt: Runtime = request.getfixturevalue(f"{mode}_runtime")
    ran, never_ran = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"avg{i}")) for i in range(2)])
    rt.store.finish(ran, JobState.SUCCEEDED, '"sent"', duration_ms=30)
    error = json.dumps({"type": "MalformedMessage", "message": "not a message", "traceback": None})
    rt.store.finish(never_ran, JobState.DEAD, error, duration_ms=None)
    stats = queue_stats().queues["email-notification"]
    assert sum(ok + failed for ok, failed in stats.finished_per_bucket) == 2
    assert stats.avg_duration_ms == 30
    # Metrics: it is a `dead` attempt (never ran), not a `failed` one, and it is not timed.
    assert stats.attempts_total == {"succeeded": 1, "retried": 0, "failed": 0, "dead": 1, "aborted": 0}
    assert stats.duration_count == 1


@pytest.mark.parametrize("mode", ["memory", "redis"])
@pytest.mark.parametrize(
    "search", ["x" * 1001, "x" * 30_000_000, "user\ud800"], ids=["1001-chars", "30-MB", "lone-surrogate"]
)
def test_a_search_no_store_can_take_is_refused_in_both_modes_before_it_reaches_one(
    request: pytest.FixtureRequest, mode: str, search: str
) -> None:
    """A Redis scan step sends the search and lower-cases it: 30 MB held Redis for 1.2 s a step, and
    a lone surrogate could not be sent at all (memory mode matched nothing)."""
    request.getfixturevalue(f"{mode}_runtime")  # no worker: the job waits, and a search finds it
    (job_id,) = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, {**email("long"), "user_id": "x" * 128})])
    with round_trips() as trips, pytest.raises(InvalidSearch, match="search: "):
        list_jobs("email-notification", None, search=search)
    with pytest.raises(InvalidSearch, match="search: "):
        dashboard_view("email-notification", None, search=search)
    assert trips[0] == 0
    # The longest search taken is well past any field a search looks in.
    assert [j.id for j in list_jobs("email-notification", None, search="x" * 128).jobs] == [job_id]
    assert list_jobs("email-notification", None, search="x" * 1000).jobs == []
