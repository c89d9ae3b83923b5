"""Changing endpoints over a real server: auth, enqueue, field errors, retry, cancel, clear."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gemsdash.queue import JobType, Runtime, add_job, configure, stats_json
from gemsdash.queue import runtime as runtime_module
from tests.conftest import test_settings
from tests.core.workload import email, scripted
from tests.http.conftest import AUTH, TOKEN, http_settings, live_server
from tests.support import JobOptions, wait_for

LATER: JobOptions = {"delay": 600_000}  # a job that waits (delayed) for the length of any test
PAYMENT = {
    "payment_id": "pay_1",
    "operation": "capture",
    "amount": 1250,
    "currency": "EUR",
    "payment_method": "pm_card_visa",
    "idempotency_key": "idem-1",
}


def job_state(api: httpx.Client, job_id: str) -> str:
    return str(api.get(f"/queue/jobs/{job_id}").json()["state"])


def changing_requests(job_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("POST", "/queue/jobs/email-notification", {"payload": email("ok")}),
        ("POST", f"/queue/jobs/{job_id}/retry", None),
        ("POST", f"/queue/jobs/{job_id}/cancel", None),
        ("DELETE", "/queue/clear/email-notification", None),
    ]


def total_jobs() -> int:
    return sum(sum(states.values()) for states in stats_json()["queues"].values())


# -- auth -----------------------------------------------------------------------------------------


def test_without_a_configured_token_changes_are_refused_even_with_a_token(memory_runtime: Runtime) -> None:
    waiting = add_job(JobType.EMAIL_NOTIFICATION, email("ok"), **LATER)
    with live_server(http_settings()) as api:
        for method, path, body in changing_requests(waiting):
            for headers in ({}, AUTH):
                response = api.request(method, path, json=body, headers=headers)
                assert response.status_code == 403, (method, path)
                assert "GEMSDASH_ADMIN_TOKEN" in response.json()["detail"]
        assert api.get("/queue/stats").status_code == 200  # reads stay open by default
        assert job_state(api, waiting) == "delayed"
    assert total_jobs() == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ],
    ids=["none", "wrong", "longer", "basic-scheme", "no-scheme"],
)
def test_a_missing_or_wrong_token_is_401_and_changes_nothing(memory_api: httpx.Client, headers: dict[str, str]) -> None:
    waiting = add_job(JobType.EMAIL_NOTIFICATION, email("ok"), **LATER)
    for method, path, body in changing_requests(waiting):
        response = memory_api.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert TOKEN not in response.text
    assert job_state(memory_api, waiting) == "delayed"
    assert total_jobs() == 1


def test_the_token_is_compared_in_constant_time(memory_api: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert (
        memory_api.delete("/queue/clear/email-notification", headers={"Authorization": "Bearer guess"}).status_code
        == 401
    )
    assert memory_api.delete("/queue/clear/email-notification", headers=AUTH).status_code == 200
    assert compared == [(b"guess", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]


def test_protected_reads_need_the_token_but_health_stays_open(memory_runtime: Runtime) -> None:
    job_id = add_job(JobType.EMAIL_NOTIFICATION, email("ok"), **LATER)
    reads = ["/queue/stats", "/queue/stats/email-notification", "/queue/dashboard", f"/queue/jobs/{job_id}", "/metrics"]
    with live_server(http_settings(admin_token=TOKEN, protect_reads=True)) as api:
        for path in reads:
            assert api.get(path).status_code == 401, path
            assert api.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401, path
            assert api.get(path, headers=AUTH).status_code == 200, path
        assert api.get("/queue/health").status_code == 200
    with live_server(http_settings(protect_reads=True)) as api:  # protected but no token: closed, not open
        for path in reads:
            assert api.get(path, headers=AUTH).status_code == 403, path


# -- enqueue ----------------------------------------------------------------------------------------


def test_enqueue_creates_a_job_that_the_worker_runs(api: httpx.Client) -> None:
    with scripted():
        response = api.post(
            "/queue/jobs/email-notification", json={"payload": email("ok"), "priority": "critical"}, headers=AUTH
        )
        assert response.status_code == 201
        job = response.json()
        assert response.headers["location"] == f"/queue/jobs/{job['id']}"
        assert job["type"] == "email-notification" and job["priority"] == "critical" and job["max_attempts"] == 5
        wait_for(lambda: job_state(api, job["id"]) == "succeeded", what="success")
    assert api.get(f"/queue/jobs/{job['id']}").json()["result"] == {"name": "ok"}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"payload": {**PAYMENT, "amount": "12.50"}}, ["amount"]),
        ({"payload": {**PAYMENT, "currency": "XXX", "idempotency_key": ""}}, ["idempotency_key"]),
        ({"payload": {**PAYMENT, "currency": "XXX"}}, ["currency"]),
        ({"payload": {k: v for k, v in PAYMENT.items() if k != "operation"}}, ["operation"]),
        ({"payload": {**PAYMENT, "note": "4242 4242 4242 4242"}}, ["note"]),
        ({"payload": PAYMENT, "priority": "urgent"}, ["priority"]),
        ({"payload": PAYMENT, "attempts": 0}, ["attempts"]),
        ({"payload": PAYMENT, "backoff": {"type": "linear"}}, ["backoff.type"]),
        ({"payload": PAYMENT, "colour": "red"}, ["colour"]),
        ({}, ["payload"]),
    ],
    ids=[
        "amount-type",
        "empty-key",
        "currency",
        "missing",
        "card-number",
        "priority",
        "attempts",
        "backoff",
        "extra",
        "no-payload",
    ],
)
def test_a_bad_request_is_422_naming_each_field_and_enqueues_nothing(
    memory_api: httpx.Client, body: dict[str, Any], fields: list[str]
) -> None:
    response = memory_api.post("/queue/jobs/payment-processing", json=body, headers=AUTH)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == fields
    assert all(e["message"] for e in errors)
    assert "4242" not in response.text
    assert total_jobs() == 0


def test_a_body_that_is_not_json_is_422(memory_api: httpx.Client) -> None:
    response = memory_api.post(
        "/queue/jobs/payment-processing", content=b"{nope", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"]


def test_unknown_type_is_refused_for_enqueue_and_404_for_clear(memory_api: httpx.Client) -> None:
    refused = memory_api.post("/queue/jobs", json={"type": "fax", "payload": {}}, headers=AUTH)
    assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["type"]
    # On the old path a name that is no job type is a job's URL, which only GET serves.
    assert memory_api.post("/queue/jobs/fax", json={"payload": {}}, headers=AUTH).status_code == 405
    assert memory_api.delete("/queue/clear/fax", headers=AUTH).status_code == 404


# -- retry, cancel, clear ---------------------------------------------------------------------------


def test_cancel_then_retry_runs_the_job(api: httpx.Client) -> None:
    with scripted():
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("ok"), **LATER)
        response = api.post(f"/queue/jobs/{job_id}/cancel", headers=AUTH)
        assert response.status_code == 200 and response.json()["state"] == "cancelled"
        again = api.post(f"/queue/jobs/{job_id}/cancel", headers=AUTH)
        assert again.status_code == 409 and "cancelled" in again.json()["detail"]
        assert api.post(f"/queue/jobs/{job_id}/retry", headers=AUTH).status_code == 200
        wait_for(lambda: job_state(api, job_id) == "succeeded", what="the retried job to succeed")
    refused = api.post(f"/queue/jobs/{job_id}/retry", headers=AUTH)
    assert refused.status_code == 409 and "succeeded" in refused.json()["detail"]


def test_a_dead_job_is_retried(api: httpx.Client) -> None:
    with scripted():
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("fatal"))
        wait_for(lambda: job_state(api, job_id) == "dead", what="dead")
        response = api.post(f"/queue/jobs/{job_id}/retry", headers=AUTH)
        assert response.status_code == 200
        assert response.json()["state"] in ("queued", "running", "dead")
        wait_for(
            lambda: api.get(f"/queue/jobs/{job_id}").json()["attempts"] == 1 and job_state(api, job_id) == "dead",
            what="the second run to finish",
        )
    timeline = [entry["state"] for entry in api.get(f"/queue/jobs/{job_id}").json()["timeline"]]
    assert timeline.count("dead") == 2


def test_unknown_job_is_404_for_retry_and_cancel(api: httpx.Client) -> None:
    for action in ("retry", "cancel"):
        response = api.post(f"/queue/jobs/00000000-0000-4000-8000-000000000000/{action}", headers=AUTH)
        assert response.status_code == 404


def test_clear_removes_waiting_jobs_and_dead_ones_on_request(api: httpx.Client) -> None:
    with scripted():
        dead = add_job(JobType.EMAIL_NOTIFICATION, email("fatal"))
        wait_for(lambda: job_state(api, dead) == "dead", what="dead")
    waiting = [add_job(JobType.EMAIL_NOTIFICATION, email("ok"), **LATER) for _ in range(2)]
    other = add_job(JobType.PAYMENT_PROCESSING, PAYMENT, **LATER)
    response = api.delete("/queue/clear/email-notification", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["queue"] == "email-notification" and body["removed"]["delayed"] == 2 and body["total"] == 2
    assert [job_state(api, j) for j in waiting] == ["cancelled", "cancelled"]
    assert job_state(api, dead) == "dead" and job_state(api, other) == "delayed"
    response = api.delete("/queue/clear/email-notification", params={"include_dead": "true"}, headers=AUTH)
    assert response.json()["removed"]["dead"] == 1
    assert api.get(f"/queue/jobs/{dead}").status_code == 404


@pytest.fixture
def read_only_runtime(namespace: str) -> Iterator[Runtime]:
    rt = configure(test_settings(namespace=namespace), role="host")
    rt.start_worker(threads=1)
    yield rt
    runtime_module.reset()


def test_read_only_mode_refuses_changes_with_403(read_only_runtime: Runtime) -> None:
    job_id = add_job(JobType.EMAIL_NOTIFICATION, email("ok"), **LATER)  # before the switch: read-only refuses it
    read_only_runtime.settings.read_only = True
    with live_server(http_settings(admin_token=TOKEN)) as api:
        for method, path, body in changing_requests(job_id):
            response = api.request(method, path, json=body, headers=AUTH)
            assert response.status_code == 403, path
            assert "read-only" in response.json()["detail"]
        assert job_state(api, job_id) == "delayed"


def test_the_seeds_camel_case_payload_is_accepted_and_both_spellings_refused(memory_api: httpx.Client) -> None:
    sketch = {"prompt": "a fox", "userId": "user123"}
    created = memory_api.post("/queue/jobs", json={"type": "sketch-generation", "payload": sketch}, headers=AUTH)
    assert created.status_code == 201, created.text
    assert created.json()["payload"]["user_id"] == "user123" and "userId" not in created.json()["payload"]
    twice = {"type": "sketch-generation", "payload": {**sketch, "user_id": "user123"}}
    refused = memory_api.post("/queue/jobs", json=twice, headers=AUTH)
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"field": "payload.user_id", "message": "given twice, as user_id and userId: send one"}
    ]
