"""`health` names every problem with its kind, queue and detail, from the same one-round-trip,
O(queues) snapshot as `stats`; the dashboard shows each one in its status line, red."""

from __future__ import annotations

from datetime import UTC, datetime

from gemsdash.app import GemsdashApp
from gemsdash.queue import JobType, Runtime, WorkerInfo, add_job, health, pause, queue_stats, resume
from gemsdash.queue.store import recovery_bound_ms
from tests.core.workload import email
from tests.support import Cli, round_trips, wait_for
from tests.tui.helpers import until


def kinds() -> list[tuple[str, str | None]]:
    return [(p.kind, p.queue) for p in health().problems]


def test_a_delayed_job_past_the_recovery_bound_is_overdue(redis_runtime: Runtime) -> None:
    """No worker moves it to its queue: 0.2 s after its due time it is not overdue yet, past the
    recovery bound (2 s worker timeout x 4/3 in this test) it is."""
    add_job(JobType.SKETCH_GENERATION, {"prompt": "a cat", "style": "cartoon", "quality": "low", "user_id": "u"})
    add_job(JobType.EMAIL_NOTIFICATION, email("later"), delay=200)
    wait_for(lambda: ("no_workers", None) in kinds(), what="no_workers")
    assert ("overdue_jobs", "email-notification") not in kinds()
    bound_s = recovery_bound_ms(redis_runtime.settings.worker_timeout_ms) / 1000
    wait_for(lambda: ("overdue_jobs", "email-notification") in kinds(), timeout=bound_s + 5, what="overdue")
    problems = {(p.kind, p.queue): p for p in health().problems}
    assert "1 job of email-notification delayed or retrying and due more than 2.666 s ago" in (
        problems[("overdue_jobs", "email-notification")].detail
    )
    assert ("overdue_jobs", "sketch-generation") not in problems  # queued, not delayed
    assert queue_stats().queues["email-notification"].overdue == 1


def test_a_paused_queue_is_not_reported_overdue_or_unserved_until_resumed(redis_runtime: Runtime) -> None:
    """An operator's pause keeps the queue's jobs waiting on purpose: health does not call them
    overdue or unserved while it lasts, and does again once the queue is resumed."""
    pause("email-notification")
    add_job(JobType.EMAIL_NOTIFICATION, email("later"), delay=200)
    bound_s = recovery_bound_ms(redis_runtime.settings.worker_timeout_ms) / 1000
    wait_for(lambda: queue_stats().queues["email-notification"].overdue == 1, timeout=bound_s + 5, what="overdue")
    assert queue_stats().paused == frozenset({"email-notification"})
    assert [k for k in kinds() if k[1] == "email-notification"] == []
    resume("email-notification")
    assert ("overdue_jobs", "email-notification") in kinds()


def test_a_worker_that_stopped_heartbeating_is_a_stale_heartbeat(redis_runtime: Runtime) -> None:
    """A worker beats once (as one does every timeout/5) and then goes silent: once the timeout
    has passed and no live worker's recovery pass has reaped it, health says so."""
    redis_runtime.store.heartbeat(
        WorkerInfo("silent-1", "host", 1, 2, datetime.now(UTC), datetime.now(UTC), 0, ["email-notification"])
    )
    assert health().healthy
    wait_for(lambda: ("stale_heartbeats", None) in kinds(), timeout=10, what="stale heartbeat")
    assert queue_stats().stale_workers == 1
    redis_runtime.store.recover()  # what a live worker's recovery pass does
    assert health().healthy


def test_health_is_one_round_trip(redis_runtime: Runtime) -> None:
    add_job(JobType.EMAIL_NOTIFICATION, email("x"), delay=60_000)
    health()  # loads the scripts
    with round_trips() as trips:
        report = health()
    assert trips[0] == 1
    assert [p.kind for p in report.problems] == ["no_workers", "unserved_queue"]


async def test_the_status_line_shows_each_problem_in_red(redis_runtime: Runtime) -> None:
    add_job(JobType.EMAIL_NOTIFICATION, email("waiting"))
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: "unserved queue" in app.status_text().plain, what="the problems line")
        text = app.status_text()
        problems_line = text.plain.splitlines()[-1]
        assert "no workers" in problems_line and "unserved queue: email-notification" in problems_line
        start = text.plain.index("unserved queue")
        styles = [str(span.style) for span in text.spans if span.start <= start < span.end]
        assert any("#ff5f5f" in style for style in styles), styles
        redis_runtime.start_worker(threads=1)
        await until(pilot, lambda: "unserved" not in app.status_text().plain, timeout=20, what="the problems to clear")
        assert len(app.status_text().plain.splitlines()) == 1


def test_a_data_loss_key_written_by_hand_never_breaks_health(redis_runtime: Runtime, cli: Cli) -> None:
    """`{ns}:gd:data-lost` is read from Redis like any job data: garbage is ignored, and hostile
    text in a well-formed one (a terminal escape, a lone surrogate) reaches the terminal escaped."""
    store = redis_runtime.store
    key = store.keys.data_lost()  # type: ignore[attr-defined]
    for garbage in (b"\xff\xfe not json", b"[1, 2]", b'{"detected_at": "soon"}', b'{"detected_at": 1e400}'):
        store.client.set(key, garbage)  # type: ignore[attr-defined]
        assert "data_lost" not in [p.kind for p in health().problems], garbage
    hostile = '{"detected_at": 1796187088600, "worker": "w\\u001b]52;c;x\\u0007\\ud800", "before": "a", "after": "b"}'
    store.client.set(key, hostile)  # type: ignore[attr-defined]
    detail = next(p.detail for p in health().problems if p.kind == "data_lost")
    assert "every job accepted before then is gone" in detail and "\ud800" not in detail, detail
    shown = cli("health")
    assert shown.returncode == 1
    assert "data_lost: Redis lost this namespace's data: worker w\\x1b]52;c;x\\x07" in shown.stdout, shown.stdout
    assert "\x1b" not in shown.stdout
