"""The OpenAPI contract: distinct paths for enqueue and jobs, each job type's payload schema, the
real 422 body, HEAD on the health check, and CORS only for the configured origins."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema_rs
import pytest

from gemsdash.http import load_http_settings
from gemsdash.queue import ConfigError, JobType, Runtime, add_job, get_job
from tests.core.workload import email
from tests.http.conftest import AUTH, TOKEN, http_settings, live_server

PAYMENT = {
    "payment_id": "pay_c",
    "operation": "capture",
    "amount": 1250,
    "currency": "EUR",
    "payment_method": "pm_card_visa",
    "idempotency_key": "idem-c",
}


def documented(schema: dict[str, Any], ref: dict[str, Any]) -> jsonschema_rs.Validator:
    """A validator for a schema of the description, its `$ref`s resolved against the whole document."""
    return jsonschema_rs.validator_for({**ref, "components": schema["components"]})


def test_enqueue_and_the_job_routes_have_distinct_paths(memory_api: httpx.Client) -> None:
    created = memory_api.post(
        "/queue/jobs", json={"type": "payment-processing", "payload": PAYMENT, "delay": 600_000}, headers=AUTH
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    assert created.headers["location"] == f"/queue/jobs/{job_id}"
    assert memory_api.get(created.headers["location"]).json()["state"] == "delayed"
    # Not a job route of its own: POST to a job is refused as a method, whatever the body.
    refused = memory_api.post(f"/queue/jobs/{job_id}", json={"payload": {}}, headers=AUTH)
    assert refused.status_code == 405 and refused.headers["allow"] == "DELETE, GET"  # DELETE: issue 17's delete
    assert memory_api.get("/queue/jobs").status_code == 405


def test_the_old_enqueue_path_is_a_hidden_alias(memory_api: httpx.Client) -> None:
    created = memory_api.post("/queue/jobs/email-notification", json={"payload": email("ok")}, headers=AUTH)
    assert created.status_code == 201, created.text
    assert get_job(created.json()["id"]) is not None
    paths = memory_api.get("/openapi.json").json()["paths"]
    assert "/queue/jobs/{type}" not in paths


def test_each_job_type_publishes_its_payload_schema(memory_api: httpx.Client) -> None:
    schema = memory_api.get("/openapi.json").json()
    body = schema["paths"]["/queue/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["discriminator"]["mapping"]) == {t.value for t in JobType}
    validator = documented(schema, body)
    assert validator.is_valid({"type": "payment-processing", "payload": PAYMENT})
    assert not validator.is_valid({"type": "payment-processing", "payload": {**PAYMENT, "amount": "12.50"}})
    assert not validator.is_valid({"type": "sketch-generation", "payload": PAYMENT})
    links = schema["paths"]["/queue/jobs"]["post"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in links.values()} == {"get_job", "retry_job", "cancel_job"}


def test_the_documented_422_is_the_body_sent(memory_api: httpx.Client) -> None:
    schema = memory_api.get("/openapi.json").json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if "422" in operation["responses"]:
                ref = operation["responses"]["422"]["content"]["application/json"]["schema"]
                assert ref == {"$ref": "#/components/schemas/FieldErrorsBody"}, (path, method)
    ref = {"$ref": "#/components/schemas/FieldErrorsBody"}
    for body in (
        {"type": "payment-processing", "payload": {**PAYMENT, "amount": 12.5}},
        {"type": "payment-processing", "payload": {**PAYMENT, "currency": "XXX"}},
        {"type": "fax", "payload": {}},
        {"type": "payment-processing", "payload": PAYMENT, "attempts": 0},
    ):
        response = memory_api.post("/queue/jobs", json=body, headers=AUTH)
        assert response.status_code == 422, response.text
        documented(schema, ref).validate(response.json())
    fields = [e["field"] for e in memory_api.post("/queue/jobs", json=body, headers=AUTH).json()["errors"]]
    assert fields == ["attempts"]
    currency = memory_api.post(
        "/queue/jobs", json={"type": "payment-processing", "payload": {**PAYMENT, "currency": "XXX"}}, headers=AUTH
    ).json()
    assert [e["field"] for e in currency["errors"]] == ["payload.currency"]


def test_a_whole_number_written_as_a_float_is_an_integer(memory_api: httpx.Client) -> None:
    """JSON Schema's integer includes 1250.0: a client built from the description may send it."""
    created = memory_api.post(
        "/queue/jobs",
        json={"type": "payment-processing", "payload": {**PAYMENT, "amount": 1250.0}, "delay": 600_000},
        headers=AUTH,
    )
    assert created.status_code == 201, created.text
    assert created.json()["payload"]["amount"] == 1250


def test_head_on_the_health_check(redis_runtime: Runtime) -> None:
    """Load balancers probe with HEAD: the status of GET, no body."""
    assert redis_runtime.worker is None
    with live_server(http_settings()) as api:
        healthy = api.head("/queue/health")
        assert healthy.status_code == 200 and healthy.content == b""
        add_job(JobType.EMAIL_NOTIFICATION, email("ok"))  # queued, no live worker: unhealthy
        assert api.get("/queue/health").status_code == 503
        unhealthy = api.head("/queue/health")
        assert unhealthy.status_code == 503 and unhealthy.content == b""


def test_cors_answers_only_the_configured_origins(memory_runtime: Runtime) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    with live_server(http_settings(admin_token=TOKEN)) as api:
        response = api.get("/queue/stats", headers={"Origin": "http://localhost:3000"})
        assert "access-control-allow-origin" not in response.headers
    with live_server(
        http_settings(admin_token=TOKEN, cors_origins="http://localhost:3000, https://ops.example")
    ) as api:
        allowed = api.options("/queue/jobs", headers={"Origin": "http://localhost:3000", **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        read = api.get("/queue/stats", headers={"Origin": "https://ops.example"})
        assert read.headers["access-control-allow-origin"] == "https://ops.example"
        other = api.get("/queue/stats", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        assert api.options("/queue/jobs", headers={"Origin": "https://evil.example", **preflight}).status_code == 400


@pytest.mark.parametrize("value", ["localhost:3000", "http://localhost:3000/", "http://a.example/path", "ftp://x"])
def test_a_malformed_cors_origin_is_a_one_line_config_error(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMSDASH_CORS_ORIGINS", f"http://ok.example,{value}")
    with pytest.raises(ConfigError) as caught:
        load_http_settings(_env_file=None)
    message = str(caught.value)
    assert message.startswith("invalid value for GEMSDASH_CORS_ORIGINS:") and "\n" not in message
