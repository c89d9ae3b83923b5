"""The schedule routes over a real server, in both modes: auth, field errors, every action, metrics."""

from __future__ import annotations

import httpx
import pytest

from gemsdash.queue import Runtime, list_schedules
from tests.core.workload import email
from tests.http.conftest import AUTH
from tests.http.test_metrics import scrape, value

DIGEST = {"name": "digest", "type": "email-notification", "payload": email("digest"), "cron": "0 8 * * *"}


def test_changing_routes_need_the_admin_token(api: httpx.Client) -> None:
    for method, path, body in (
        ("POST", "/queue/schedules", DIGEST),
        ("DELETE", "/queue/schedules/digest", None),
        ("POST", "/queue/schedules/digest/pause", None),
        ("POST", "/queue/schedules/digest/resume", None),
        ("POST", "/queue/schedules/digest/run", None),
    ):
        response = api.request(method, path, json=body)
        assert response.status_code == 401, (method, path)
    assert list_schedules() == []
    assert api.get("/queue/schedules").json() == []


def test_add_read_pause_resume_run_remove(api: httpx.Client, any_runtime: Runtime) -> None:
    body = {**DIGEST, "timezone": "Europe/Berlin", "priority": "high", "attempts": 2}
    created = api.post("/queue/schedules", json=body, headers=AUTH)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/queue/schedules/digest"
    data = created.json()
    assert data["rule"] == "cron 0 8 * * * (Europe/Berlin)" and data["priority"] == "high"
    assert data["next_run_at"] is not None and data["paused"] is False
    assert api.post("/queue/schedules", json=body, headers=AUTH).status_code == 409

    assert [s["name"] for s in api.get("/queue/schedules").json()] == ["digest"]
    assert api.get("/queue/schedules/digest").json()["timezone"] == "Europe/Berlin"
    assert api.get("/queue/schedules/nope").status_code == 404

    paused = api.post("/queue/schedules/digest/pause", headers=AUTH)
    assert paused.status_code == 200 and paused.json()["paused"] is True
    run = api.post("/queue/schedules/digest/run", headers=AUTH)
    assert run.status_code == 201
    job = api.get(run.headers["location"]).json()
    assert job["schedule"] == "digest" and job["schedule_tick"] is not None and job["priority"] == "high"
    listed = api.get("/queue/schedules/digest").json()
    assert listed["last_job_id"] == run.json()["id"] and listed["fired"] == 1
    resumed = api.post("/queue/schedules/digest/resume", headers=AUTH)
    assert resumed.json()["paused"] is False and resumed.json()["next_run_at"] is not None

    assert api.delete("/queue/schedules/digest", headers=AUTH).status_code == 204
    assert api.delete("/queue/schedules/digest", headers=AUTH).status_code == 404
    for action in ("pause", "resume", "run"):
        assert api.post(f"/queue/schedules/digest/{action}", headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"payload": {"to": "nobody", "template": "welcome", "context": {"name": "x"}}}, "to"),
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": None, "every": "often"}, "every"),
        ({"every": "5m"}, "cron"),  # both cron and every
        ({"timezone": "Nowhere/Town"}, "timezone"),
        ({"name": "two words"}, "name"),
        ({"catch_up": 1000}, "catch_up"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_an_invalid_schedule_is_refused_with_422_and_nothing_is_stored(
    api: httpx.Client, change: dict[str, object], field: str | None
) -> None:
    response = api.post("/queue/schedules", json={**DIGEST, **change}, headers=AUTH)
    assert response.status_code == 422, response.text
    detail = response.json()
    assert "\n" not in detail["detail"]
    if field is not None:
        assert field in [e["field"] for e in detail["errors"]]
    assert list_schedules() == []


def test_payloads_are_masked(api: httpx.Client) -> None:
    body = {**DIGEST, "payload": {**email("digest"), "context": {"name": "x", "password": "hunter2"}}}
    assert api.post("/queue/schedules", json=body, headers=AUTH).status_code == 201
    assert "hunter2" not in api.get("/queue/schedules").text


def test_metrics_count_fired_and_missed_per_schedule(api: httpx.Client) -> None:
    assert (
        api.post("/queue/schedules", json={**DIGEST, "name": "hourly", "cron": "0 * * * *"}, headers=AUTH).status_code
        == 201
    )
    assert api.post("/queue/schedules", json=DIGEST, headers=AUTH).status_code == 201
    for _ in range(2):
        assert api.post("/queue/schedules/hourly/run", headers=AUTH).status_code == 201
    metrics = scrape(api)
    assert value(metrics, "gemsdash_schedule_fired_total", schedule="hourly") == 2
    assert value(metrics, "gemsdash_schedule_fired_total", schedule="digest") == 0
    assert value(metrics, "gemsdash_schedule_missed_total", schedule="hourly") == 0
