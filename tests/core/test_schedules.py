"""Schedules in both stores: rules, the once-per-tick claim, catch-up, and the admin actions."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import redis

from gemsdash.queue import (
    InvalidPayload,
    JobRecord,
    JobState,
    Runtime,
    ScheduleError,
    ScheduleExists,
    ScheduleNotFound,
    add_job,
    add_schedule,
    audit_log,
    configure,
    get_job,
    get_schedule,
    list_jobs,
    list_schedules,
    pause_schedule,
    remove_schedule,
    resume_schedule,
    run_schedule,
)
from gemsdash.queue import runtime as runtime_module
from gemsdash.queue.schedules import Rule, fire_due, fire_one, parse_every
from tests.conftest import _drop_namespace, test_settings
from tests.core.workload import email, scripted
from tests.support import state_of, wait_for

QUEUE = "email-notification"


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def utc(ms_value: int) -> datetime:
    return datetime.fromtimestamp(ms_value / 1000, tz=UTC)


# -- rules ---------------------------------------------------------------------------------------


def test_cron_next_run_follows_berlin_local_time_across_both_dst_changes() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    rule = Rule.parse("0 8 * * *", None, "Europe/Berlin")
    # Spring forward (29 March 2026): 08:00 local is 07:00 UTC before, 06:00 UTC after: 23 h apart.
    before = datetime(2026, 3, 28, 8, 0, tzinfo=berlin)
    after_spring = rule.after(ms(before))
    assert after_spring is not None
    assert utc(after_spring) == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    assert after_spring - ms(before) == 23 * 3600 * 1000
    # Fall back (25 October 2026): 25 h apart.
    autumn = datetime(2026, 10, 24, 8, 0, tzinfo=berlin)
    after_fall = rule.after(ms(autumn))
    assert after_fall is not None
    assert utc(after_fall) == datetime(2026, 10, 25, 7, 0, tzinfo=UTC)
    # A time the spring change skips (02:30 does not exist on 29 March) fires once, at 03:00 CEST,
    # as cron does; and the day after it is 02:30 again.
    nightly = Rule.parse("30 2 * * *", None, "Europe/Berlin")
    skipped = nightly.after(ms(datetime(2026, 3, 28, 12, 0, tzinfo=berlin)))
    assert skipped is not None and utc(skipped) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    following = nightly.after(skipped)
    assert following is not None and utc(following).astimezone(berlin).strftime("%d %H:%M") == "30 02:30"
    # The hour the autumn change repeats (02:00-03:00 twice on 25 October) fires once.
    repeated = nightly.after(ms(datetime(2026, 10, 24, 12, 0, tzinfo=berlin)))
    assert repeated is not None and utc(repeated) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    again = nightly.after(repeated)
    assert again is not None and utc(again) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)
    # The same rule in UTC does not move.
    assert Rule.parse("0 8 * * *", None, None).after(ms(datetime(2026, 3, 28, 8, 0, tzinfo=UTC))) == ms(
        datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
    )


def test_missed_cron_ticks_across_a_dst_change_are_counted_in_local_time() -> None:
    rule = Rule.parse("0 * * * *", None, "Europe/Berlin")
    start = ms(datetime(2026, 3, 29, 0, 0, tzinfo=ZoneInfo("Europe/Berlin")))  # 23:00 UTC on the 28th
    now = ms(datetime(2026, 3, 29, 5, 30, tzinfo=UTC))
    ticks, missed, following = rule.due(start, now, keep=1)
    # 00:00 CET to 07:00 CEST local is 23:00 to 05:00 UTC: 7 hourly ticks (02:00 local never was).
    assert [utc(t).hour for t in ticks] == [5]
    assert missed == 6
    assert following == ms(datetime(2026, 3, 29, 6, 0, tzinfo=UTC))
    kept, missed_kept, _ = rule.due(start, now, keep=3)
    assert [utc(t).hour for t in kept] == [3, 4, 5] and missed_kept == 4


def test_after_a_week_down_a_per_minute_rule_fires_its_latest_ticks_not_last_weeks() -> None:
    rule = Rule.parse("* * * * *", None, "Europe/Berlin")
    start = ms(datetime(2026, 3, 25, 0, 0, tzinfo=UTC))
    now = start + 7 * 86_400_000 + 30_000  # a week and half a minute later
    began = time.perf_counter()
    ticks, missed, following = rule.due(start, now, keep=3)
    assert time.perf_counter() - began < 5
    last_minute = now - 30_000
    assert ticks == [last_minute - 120_000, last_minute - 60_000, last_minute]
    assert following == last_minute + 60_000
    assert missed > 9_000


@pytest.mark.parametrize(
    ("cron", "every", "tz", "message"),
    [
        (None, None, None, "exactly one"),
        ("* * * * *", "5m", None, "exactly one"),
        ("* * *", None, None, "five fields"),
        ("* * * * * *", None, None, "five fields"),
        ("61 * * * *", None, None, "--cron"),
        ("0 0 31 2 *", None, None, "--cron"),
        ("0 8 * * *", None, "Mars/Olympus", "unknown timezone"),
        (None, "5 minutes", None, "--every"),
        (None, "0s", None, "between 1s"),
        (None, "500ms", None, "between 1s"),
    ],
)
def test_bad_rules_are_refused_in_one_line(cron: str | None, every: str | None, tz: str | None, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        Rule.parse(cron, every, tz)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_intervals() -> None:
    assert parse_every("30s") == 30_000
    assert parse_every("5m") == 300_000
    assert parse_every("1h30m") == 5_400_000
    assert parse_every("1d") == 86_400_000
    assert Rule.parse(None, "90s", None).text() == "every 1m30s"


# -- stores --------------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def quiet_runtime(
    request: pytest.FixtureRequest, namespace: str, redis_url: str, redis_client: redis.Redis
) -> Iterator[Runtime]:
    """Either mode with no worker running, so nothing fires unless the test fires it."""
    settings = test_settings(
        redis_enabled=request.param == "redis", redis_url=redis_url, namespace=namespace, worker_timeout_seconds=2
    )
    rt = configure(settings, role="host" if request.param == "memory" else "worker")
    yield rt
    runtime_module.reset()
    _drop_namespace(redis_client, namespace)


def scheduled_jobs(name: str) -> list[JobRecord]:
    return [j for j in list_jobs(QUEUE, limit=500).jobs if j.schedule == name]


def test_a_schedule_with_an_invalid_payload_is_refused_with_enqueues_field_errors(quiet_runtime: Runtime) -> None:
    bad = {"to": "not-an-address", "template": "welcome", "context": {"name": "x"}}
    with pytest.raises(InvalidPayload) as from_enqueue:
        add_job(QUEUE, bad)
    with pytest.raises(InvalidPayload) as from_schedule:
        add_schedule("bad", QUEUE, bad, every="1m")
    assert from_schedule.value.errors == from_enqueue.value.errors
    with pytest.raises(InvalidPayload):
        add_schedule("bad", QUEUE, email("x"), every="1m", attempts=0)
    with pytest.raises(ScheduleError):
        add_schedule("has space", QUEUE, email("x"), every="1m")
    with pytest.raises(ScheduleError):
        add_schedule("late", QUEUE, email("x"), every="1m", catch_up=101)
    assert list_schedules() == []
    assert [e for e in audit_log(50) if e["action"].startswith("schedule")] == []


def test_add_list_pause_resume_run_remove_and_the_audit_log(quiet_runtime: Runtime) -> None:
    schedule = add_schedule("digest", QUEUE, email("digest"), cron="0 8 * * *", timezone="Europe/Berlin")
    assert schedule.rule == "cron 0 8 * * * (Europe/Berlin)" and not schedule.paused
    assert schedule.next_run_at is not None and schedule.next_run_at.astimezone(ZoneInfo("Europe/Berlin")).hour == 8
    with pytest.raises(ScheduleExists):
        add_schedule("digest", QUEUE, email("other"), every="1m")
    assert [s.name for s in list_schedules()] == ["digest"]

    paused = pause_schedule("digest")
    assert paused.paused and paused.next_run_at is None
    job_id = run_schedule("digest")  # by hand, even paused
    record = get_job(job_id)
    assert record is not None and record.schedule == "digest" and record.schedule_tick is not None
    assert record.payload["context"] == {"name": "digest"}
    listed = get_schedule("digest")
    assert listed.last_job_id == job_id and listed.last_job_state is JobState.QUEUED and listed.fired == 1

    resumed = resume_schedule("digest")
    assert not resumed.paused and resumed.next_run_at == schedule.next_run_at

    remove_schedule("digest")
    assert list_schedules() == []
    assert get_job(job_id) is not None  # its job stays
    for action in (remove_schedule, pause_schedule, resume_schedule, run_schedule, get_schedule):
        with pytest.raises(ScheduleNotFound):
            action("digest")
    actions = [(e["action"], e["target"]) for e in reversed(audit_log(50))]
    assert actions == [
        ("schedule-add", "digest"),
        ("schedule-pause", "digest"),
        ("schedule-run", "digest"),
        ("schedule-resume", "digest"),
        ("schedule-remove", "digest"),
    ]


def test_a_paused_schedule_does_not_fire_and_a_resumed_one_does_not_catch_up(quiet_runtime: Runtime) -> None:
    add_schedule("tick", QUEUE, email("tick"), every="1s", catch_up=10)
    pause_schedule("tick")
    time.sleep(2.2)
    fire_due(quiet_runtime.store, 100_000)
    assert scheduled_jobs("tick") == []
    resumed = resume_schedule("tick")
    assert resumed.next_run_at is not None and resumed.next_run_at > datetime.now(UTC)
    fire_due(quiet_runtime.store, 100_000)
    assert scheduled_jobs("tick") == []  # not due yet: the paused ticks are gone
    wait_for(lambda: fire_due(quiet_runtime.store, 100_000) is not None and scheduled_jobs("tick"), what="a tick")
    assert len(scheduled_jobs("tick")) == 1


@pytest.mark.slow
@pytest.mark.parametrize("catch_up", [0, 3])
def test_after_downtime_missed_ticks_fire_once_or_up_to_catch_up(quiet_runtime: Runtime, catch_up: int) -> None:
    created = add_schedule("tick", QUEUE, email("tick"), every="1s", catch_up=catch_up)
    assert created.next_run_at is not None
    time.sleep(5.3)  # no firer: about five ticks pass
    fire_due(quiet_runtime.store, 100_000)
    jobs = scheduled_jobs("tick")
    ticks = sorted(ms(j.schedule_tick) for j in jobs if j.schedule_tick is not None)
    schedule = get_schedule("tick")
    expected_jobs = max(1, catch_up)
    assert len(jobs) == len(ticks) == expected_jobs
    # The latest ticks, consecutive, each its own job; the rest counted missed.
    first = ms(created.next_run_at)
    assert all((t - first) % 1000 == 0 for t in ticks)
    assert [b - a for a, b in itertools.pairwise(ticks)] == [1000] * (expected_jobs - 1)
    passed = (ticks[-1] - first) // 1000 + 1
    assert passed >= 5
    assert schedule.fired == expected_jobs and schedule.missed == passed - expected_jobs
    assert schedule.next_run_at is not None and ms(schedule.next_run_at) == ticks[-1] + 1000
    assert schedule.last_tick_at is not None and ms(schedule.last_tick_at) == ticks[-1]


def test_many_firers_racing_for_one_tick_enqueue_one_job(quiet_runtime: Runtime) -> None:
    add_schedule("race", QUEUE, email("race"), every="1s")
    time.sleep(1.2)
    store = quiet_runtime.store
    now, due, _ = store.schedules_due(10)
    assert [d["name"] for d in due] == ["race"]
    start = threading.Barrier(8)
    fired: list[int] = []

    def firer() -> None:
        start.wait()
        fired.append(fire_one(store, dict(due[0]), now, 100_000))

    threads = [threading.Thread(target=firer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(fired) == [0] * 7 + [1]
    assert len(scheduled_jobs("race")) == 1
    assert get_schedule("race").fired == 1


def test_a_schedule_removed_and_added_again_is_not_fired_by_a_firer_that_read_the_old_one(
    quiet_runtime: Runtime,
) -> None:
    add_schedule("again", QUEUE, email("old"), every="1s")
    time.sleep(1.2)
    store = quiet_runtime.store
    now, due, _ = store.schedules_due(10)
    remove_schedule("again")
    add_schedule("again", QUEUE, email("new"), every="1s")
    assert fire_one(store, due[0], now, 100_000) == 0  # the old definition's tick: stale
    assert scheduled_jobs("again") == []


def test_the_firer_tells_how_long_to_wait(quiet_runtime: Runtime) -> None:
    store = quiet_runtime.store
    assert fire_due(store, 100_000, max_wait_s=1.0) == 1.0  # nothing scheduled
    add_schedule("soon", QUEUE, email("soon"), every="1h")
    assert fire_due(store, 100_000, max_wait_s=1.0) == 1.0  # not due within the wait
    add_schedule("now", QUEUE, email("now"), every="1s")
    assert 0.0 < fire_due(store, 100_000, max_wait_s=5.0) <= 1.0


def test_a_scheduled_job_runs_like_any_job(any_runtime: Runtime) -> None:
    """The in-process worker (memory mode's embedded one, or a Redis worker) fires schedules
    itself, and runs their jobs to the end like any other."""
    with scripted():
        add_schedule("welcome", QUEUE, email("ok-welcome"), every="1s")
        wait_for(lambda: len(scheduled_jobs("welcome")) >= 2, timeout=20, what="two ticks fired")
        jobs = scheduled_jobs("welcome")
        assert len({j.schedule_tick for j in jobs}) == len(jobs)
        wait_for(lambda: all(state_of(j.id) is JobState.SUCCEEDED for j in jobs), timeout=30, what="the jobs ran")


def test_schedule_json_shape(quiet_runtime: Runtime) -> None:
    add_schedule("shape", QUEUE, email("shape"), every="5m", priority="high", attempts=2)
    data = json.loads(json.dumps(get_schedule("shape").public_dict()))
    assert {k: data[k] for k in ("name", "type", "rule", "every_ms", "priority", "attempts", "paused")} == {
        "name": "shape",
        "type": QUEUE,
        "rule": "every 5m",
        "every_ms": 300_000,
        "priority": "high",
        "attempts": 2,
        "paused": False,
    }


@pytest.mark.slow
def test_listing_many_schedules_reads_them_all_in_pages(quiet_runtime: Runtime) -> None:
    names = [f"s{i:03d}" for i in range(250)]
    for name in names:
        add_schedule(name, QUEUE, email(name), cron="0 8 * * *")
    last = run_schedule("s249")
    listed = list_schedules()
    assert [s.name for s in listed] == names
    assert listed[-1].last_job_id == last and listed[-1].last_job_state is JobState.QUEUED
