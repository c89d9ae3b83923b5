"""The refresh policy on its own: no overlap, back-off while down, honest freshness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gemsdash.tui.feed import MAX_RETRY_DELAY, Feed, Level
from gemsdash.tui.format import seconds, spark

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_a_refresh_never_starts_while_one_runs_even_when_asked() -> None:
    feed = Feed(1.0)
    assert feed.due(0.0)
    feed.begin(0.0)
    feed.request()
    assert not feed.due(5.0), "a second refresh must wait for the first"
    feed.succeeded(5.0, T0)
    assert feed.due(5.0), "the request made meanwhile runs as soon as the first ends"


def test_the_period_runs_from_the_start_of_a_refresh() -> None:
    feed = Feed(1.0)
    feed.begin(10.0)
    feed.succeeded(10.3, T0)
    assert not feed.due(10.9)
    assert feed.due(11.0)


def test_failures_back_off_up_to_a_cap_and_reset_on_success() -> None:
    feed = Feed(0.5)
    delays = []
    now = 0.0
    for _ in range(8):
        feed.begin(now)
        feed.failed(now, "Redis unreachable")
        delays.append(feed.next_due - now)
        now = feed.next_due
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert max(delays) == MAX_RETRY_DELAY
    feed.begin(now)
    feed.succeeded(now, T0)
    assert feed.failures == 0 and feed.error is None


def test_freshness_levels() -> None:
    feed = Feed(1.0)
    assert feed.freshness(0.0, T0).level is Level.LOADING
    feed.begin(0.0)
    feed.succeeded(0.1, T0)
    live = feed.freshness(0.5, T0 + timedelta(seconds=2))
    assert live.level is Level.LIVE and live.text == "as of 2s ago"
    late = feed.freshness(4.0, T0 + timedelta(seconds=4))
    assert late.level is Level.LATE and "late" in late.text
    feed.begin(5.0)
    feed.failed(5.0, "Redis unreachable at redis://x:6379/0: refused")
    stale = feed.freshness(5.2, T0 + timedelta(seconds=6))
    assert stale.level is Level.STALE
    assert stale.text == "as of 6s ago · retrying now" or stale.text.startswith("as of 6s ago · retrying in")
    assert stale.error and "refused" in stale.error
    feed.begin(6.0)
    feed.succeeded(6.0, T0 + timedelta(seconds=6))
    assert feed.toggle_pause()
    assert feed.freshness(9.0, T0 + timedelta(seconds=30)).level is Level.PAUSED
    assert not feed.due(100.0), "paused: no refresh by the clock"
    feed.request()
    assert feed.due(100.0), "paused: an explicit request still refreshes once"


def test_interval_steps() -> None:
    feed = Feed(1.0)
    assert feed.step_interval(1) == 2.0
    assert feed.step_interval(-1) == 1.0
    assert feed.step_interval(-1) == 0.5
    feed = Feed(0.1)
    assert feed.step_interval(-1) == 0.1, "already faster than the fastest step"
    assert feed.step_interval(1) == 0.25


def test_ages_and_sparkline_scale_from_zero() -> None:
    assert [seconds(v) for v in (0.2, 42, 65, 7300, 90000)] == ["<1s", "42s", "1m05s", "2h01m", "1d01h"]
    steady = spark([50, 51, 50, 52])
    assert set(steady.plain) == {"█"}, "a steady rate must look steady, not like a cliff"
    assert spark([0, 0, 4]).plain == "··█"
    assert len(spark(list(range(30)), width=10).plain) == 10


def test_error_fingerprints_blank_what_varies() -> None:
    from gemsdash.queue import JobRecord
    from gemsdash.tui.screens.errors import group, search_hint

    def dead(message: str, error_type: str = "Timeout") -> JobRecord:
        return JobRecord.model_validate(
            {
                "id": message,
                "type": "email-notification",
                "queue": "email-notification",
                "state": "dead",
                "priority": "normal",
                "payload": {},
                "max_attempts": 3,
                "created_at": T0,
                "error": {"type": error_type, "message": message},
            }
        )

    jobs = [
        dead("order 1182 timed out after 2.5 s"),
        dead("order 77 timed out after 10 s"),
        dead("job 3f2a9c1e-7c1e-4f7a-9b59-5d1c0a3e00a3 lost"),
        dead("order 5 timed out after 1 s", "Refused"),
    ]
    found = group(jobs)
    assert [(g.error_type, g.pattern, len(g.jobs)) for g in found] == [
        ("Timeout", "order # timed out after # s", 2),
        ("Timeout", "job # lost", 1),
        ("Refused", "order # timed out after # s", 1),
    ]
    assert search_hint("order 1182 timed out after 2.5 s") == "timed out after"
