"""The read endpoints over a real server, in both modes, with jobs run by a real in-process worker."""

from __future__ import annotations

from typing import Any

import httpx

from gemsdash.queue import JobType, add_job, stats_json
from tests.core.workload import email, scripted
from tests.http.conftest import AUTH
from tests.support import wait_for


def job_state(api: httpx.Client, job_id: str) -> str:
    return str(api.get(f"/queue/jobs/{job_id}").json()["state"])


def test_health_is_200_with_a_live_worker(api: httpx.Client) -> None:
    response = api.get("/queue/health")
    assert response.status_code == 200
    assert response.json()["healthy"] is True
    assert response.json()["reasons"] == []


def test_stats_is_the_stats_json_document_and_follows_jobs(api: httpx.Client) -> None:
    with scripted() as work:
        ok = add_job(JobType.EMAIL_NOTIFICATION, email("ok"))
        dead = add_job(JobType.EMAIL_NOTIFICATION, email("fatal"))
        wait_for(lambda: job_state(api, ok) == "succeeded" and job_state(api, dead) == "dead", what="both finished")
    assert sorted(work.started) == ["fatal", "ok"]
    body = api.get("/queue/stats").json()
    assert set(body) == {"mode", "fallback_reason", "workers", "queues", "paused"}
    assert body == stats_json()
    assert body["queues"]["email-notification"]["succeeded"] == 1
    assert body["queues"]["email-notification"]["dead"] == 1
    assert body["workers"] == 1


def test_stats_for_one_type_has_its_counts_and_throughput(api: httpx.Client) -> None:
    with scripted():
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("ok"))
        wait_for(lambda: job_state(api, job_id) == "succeeded", what="success")
    body = api.get("/queue/stats/email-notification").json()
    assert list(body["queues"]) == ["email-notification"]
    assert body["queues"]["email-notification"]["succeeded"] == 1
    flow = body["throughput"]["email-notification"]
    assert flow["finished_total"] == {"succeeded": 1, "dead": 0}
    # In the newest bucket, or the one before when a 10 s boundary fell between the job and the read.
    recent = flow["finished_per_bucket"][-2:]
    assert sum(b["succeeded"] for b in recent) == 1 and sum(b["dead"] for b in recent) == 0
    assert flow["avg_duration_ms"] is not None


def test_unknown_type_and_unknown_job_are_404(api: httpx.Client) -> None:
    response = api.get("/queue/stats/no-such-type")
    assert response.status_code == 404
    assert "no-such-type" not in response.json()["detail"]  # request values are never echoed
    assert "expected one of: sketch-generation" in response.json()["detail"]
    assert api.get("/queue/jobs/00000000-0000-4000-8000-000000000000").status_code == 404


def test_dashboard_lists_workers_and_recent_failures_newest_first(api: httpx.Client) -> None:
    with scripted():
        first = add_job(JobType.EMAIL_NOTIFICATION, email("fatal-1"))
        wait_for(lambda: job_state(api, first) == "dead", what="first failure")
        second = add_job(JobType.EMAIL_NOTIFICATION, email("fatal-2"))
        wait_for(lambda: job_state(api, second) == "dead", what="second failure")
    body = api.get("/queue/dashboard").json()
    assert [job["id"] for job in body["recent_failures"]] == [second, first]
    assert body["recent_failures"][0]["error"]["message"] == "permanent failure for fatal-2"
    assert body["stats"]["queues"]["email-notification"]["dead"] == 2
    assert len(body["workers"]) == 1 and body["workers"][0]["threads"] == 4
    assert body["throughput"]["email-notification"]["finished_total"]["dead"] == 2
    assert [j["id"] for j in api.get("/queue/dashboard", params={"failures": 1}).json()["recent_failures"]] == [second]


def test_sensitive_payload_fields_are_masked(api: httpx.Client) -> None:
    payload: dict[str, Any] = {
        "to": "someone@example.com",
        "template": "password-reset",
        "context": {"name": "ok", "reset_url": "https://example.com/r", "reset_token": "tok-SECRET-42"},
    }
    with scripted():
        job_id = add_job(JobType.EMAIL_NOTIFICATION, payload)
        wait_for(lambda: job_state(api, job_id) == "succeeded", what="success")
        created = api.post("/queue/jobs/email-notification", json={"payload": payload}, headers=AUTH)
        assert created.status_code == 201
        assert "tok-SECRET-42" not in created.text
        assert created.json()["payload"]["context"]["reset_token"] == "***"
        wait_for(lambda: job_state(api, created.json()["id"]) == "succeeded", what="second success")
    response = api.get(f"/queue/jobs/{job_id}")
    assert "tok-SECRET-42" not in response.text
    context = response.json()["payload"]["context"]
    assert context == {"name": "ok", "reset_url": "https://example.com/r", "reset_token": "***"}
