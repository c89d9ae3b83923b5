"""With Sentinel the header names the Redis primary; when a refresh finds another one, the dashboard
says so once, as a failover."""

from __future__ import annotations

from gemsdash.app import GemsdashApp
from gemsdash.tui.source import Backend
from tests.tui.fixed import FixedSource
from tests.tui.helpers import notices, until

URL = "sentinel://10.0.0.5:26379,10.0.0.6:26379/mymaster"


async def test_the_header_names_the_primary_and_a_failover_is_announced_once() -> None:
    source = FixedSource(Backend("redis", URL, None, "10.0.0.1:6379"))
    app = GemsdashApp(source=source, refresh_interval=0.1)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: app.refreshes >= 1, what="a first refresh")
        assert app.sub_title == f"redis {URL} · primary 10.0.0.1:6379"
        assert "failover" not in notices(app)
        source._backend = Backend("redis", URL, None, "10.0.0.2:6379")
        await until(pilot, lambda: "failover" in notices(app), what="the failover notice")
        assert "Redis failover: the primary is now 10.0.0.2:6379 (was 10.0.0.1:6379)." in notices(app)
        assert app.sub_title == f"redis {URL} · primary 10.0.0.2:6379"
        refreshes = app.refreshes
        await until(pilot, lambda: app.refreshes >= refreshes + 3, what="more refreshes")
        assert notices(app).count("Redis failover") == 1
