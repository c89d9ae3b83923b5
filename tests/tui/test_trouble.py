"""The dashboard under trouble: Redis going away and coming back, a slow backend, a memory fallback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

import gemsdash.queue as q
from gemsdash.app import GemsdashApp
from gemsdash.queue import Snapshot
from gemsdash.queue import runtime as runtime_module
from gemsdash.tui.feed import Level
from gemsdash.tui.widgets.status import FallbackBanner
from gemsdash.tui.widgets.tables import QueuesTable
from tests.conftest import test_settings
from tests.core.workload import email
from tests.support import RedisServer, free_port
from tests.tui.fixed import FixedSource
from tests.tui.helpers import main_screen, row, screen_text, until

EMAIL = "email-notification"
SIZE = (140, 40)


@pytest.fixture
def own_redis(namespace: str) -> Iterator[RedisServer]:
    """A redis-server of this test's own, and gemsdash configured at it as the dashboard host."""
    with RedisServer() as server:
        q.configure(
            test_settings(redis_enabled=True, redis_url=server.url, namespace=namespace, redis_connect_timeout=0.5),
            role="host",
        )
        try:
            yield server
        finally:
            runtime_module.reset()


@pytest.mark.slow
async def test_redis_going_away_keeps_the_last_data_marked_stale_and_recovers(own_redis: RedisServer) -> None:
    q.add_job(EMAIL, email("waits"))  # no worker: it stays queued
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        screen = main_screen(app)
        table = screen.query_one(QueuesTable)
        await until(pilot, lambda: row(table, EMAIL)["queued"] == "1", what="the queued job")
        assert "● connected" in app.status_text().plain
        assert app.sub_title == f"redis {own_redis.url}"

        own_redis.stop()
        await until(pilot, lambda: "disconnected" in app.status_text().plain, what="the header to say disconnected")
        status = app.status_text().plain
        assert "Redis unreachable at" in status and "retrying" in status
        assert freshness(app) is Level.STALE
        assert row(table, EMAIL)["queued"] == "1", "the last good data stays on screen"
        assert screen.has_class("-stale")
        assert "STALE" in str(screen.query_one("#queues-panel").border_title)
        failures = app.feed.failures
        await until(pilot, lambda: app.feed.failures > failures, what="another attempt while down")

        own_redis.start()  # same port, empty data set
        await until(pilot, lambda: "● connected" in app.status_text().plain, timeout=10, what="recovery")
        await until(pilot, lambda: row(table, EMAIL)["queued"] == "0", what="fresh data after recovery")
        assert not screen.has_class("-stale")
        assert freshness(app) is Level.LIVE


def freshness(app: GemsdashApp) -> Level:
    """The header's level, read afresh (mypy would keep `app.freshness_level` narrowed across awaits)."""
    return app.freshness_level


class SlowSource(FixedSource):
    """Fixed dashboard data whose snapshot blocks until released, counting overlapping reads."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.snapshots = 0
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def snapshot(self) -> Snapshot:
        with self._lock:
            self.snapshots += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            self.release.wait(10)
            return replace(super().snapshot(), taken_at=datetime.now(UTC))
        finally:
            with self._lock:
                self.running -= 1


async def test_a_slow_refresh_is_never_overlapped_and_shows_late() -> None:
    source = SlowSource()
    source.release.set()
    app = GemsdashApp(refresh_interval=0.05, source=source)  # real clock: the data's age grows
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.refreshes >= 1)
        source.release.clear()
        snapshots = source.snapshots
        await until(pilot, lambda: source.running == 1, what="a refresh to hang")
        app.request_refresh()  # the operator asks again: it must wait
        await until(pilot, lambda: app.freshness_level is Level.LATE, timeout=5, what="the header to turn late")
        assert "refresh late" in app.status_text().plain
        assert source.snapshots == snapshots + 1, "no second read while the first hangs"
        source.release.set()
        await until(pilot, lambda: app.freshness_level is Level.LIVE, what="live again")
        assert source.most_at_once == 1


async def test_memory_fallback_shows_a_red_banner_with_the_reason(namespace: str) -> None:
    port = free_port()
    rt = q.configure(
        test_settings(
            redis_enabled=True, redis_url=f"redis://127.0.0.1:{port}/0", namespace=namespace, redis_connect_timeout=0.3
        ),
        role="host",
    )
    try:
        assert rt.mode == "memory" and rt.fallback_reason
        app = GemsdashApp(refresh_interval=0.1)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.snapshot is not None)
            banner = app.screen.query_one(FallbackBanner)
            assert banner.display
            text = " ".join(screen_text(app).split())
            assert "MEMORY FALLBACK" in text
            assert f"Redis unreachable at redis://127.0.0.1:{port}/0" in text
            assert "lost when it exits" in text
            assert "FALLBACK" in app.sub_title
    finally:
        runtime_module.reset()


async def test_no_banner_in_plain_memory_mode(memory_runtime: q.Runtime) -> None:
    app = GemsdashApp(refresh_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.snapshot is not None)
        assert not app.screen.query(FallbackBanner)
