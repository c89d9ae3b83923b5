"""Schemathesis drives every operation of the published OpenAPI description against the real server.

The checks: no 5xx, only documented status codes and content types, and every response body valid
against its documented schema. `positive_data_acceptance` is left out on purpose: the enqueue body's
`payload` is typed per job type by the queue (a path parameter picks the model), which OpenAPI
cannot express, so "schema-valid" requests are often rightly rejected with 422.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gemsdash.queue import JobState, JobType, Runtime, add_job, get_job
from tests.core.workload import email, scripted
from tests.http.conftest import AUTH, TOKEN, http_settings, live_server
from tests.support import wait_for

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_schema(any_runtime: Runtime) -> Iterator[schemathesis.BaseSchema]:
    # A dead and a waiting job, so the dashboard's lists and the records it returns are not empty.
    with scripted():
        dead = add_job(JobType.EMAIL_NOTIFICATION, email("fatal"))
        wait_for(lambda: (r := get_job(dead)) is not None and r.state is JobState.DEAD, what="dead")
    add_job(JobType.EMAIL_NOTIFICATION, email("ok"), delay=600_000)
    with live_server(http_settings(admin_token=TOKEN)) as client:
        yield schemathesis.openapi.from_url(f"{client.base_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")
# Raised inside schemathesis' own strategies, not by anything of ours.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=AUTH, checks=CHECKS)


def test_the_schema_lists_every_endpoint(memory_api: httpx.Client) -> None:
    paths = memory_api.get("/openapi.json").json()["paths"]
    assert {(path, method) for path, ops in paths.items() for method in ops} == {
        ("/queue/health", "get"),
        ("/queue/stats", "get"),
        ("/queue/stats/{type}", "get"),
        ("/queue/dashboard", "get"),
        ("/queue/jobs/{id}", "get"),
        ("/queue/jobs/{type}", "post"),
        ("/queue/jobs/{id}/retry", "post"),
        ("/queue/jobs/{id}/cancel", "post"),
        ("/queue/clear/{type}", "delete"),
        ("/queue/jobs/{id}", "delete"),
        ("/queue/jobs/{id}/abort", "post"),
        ("/queue/jobs/{id}/run", "post"),
        ("/queue/pause/{type}", "post"),
        ("/queue/resume/{type}", "post"),
        ("/metrics", "get"),
        ("/queue/schedules", "get"),
        ("/queue/schedules", "post"),
        ("/queue/schedules/{name}", "get"),
        ("/queue/schedules/{name}", "delete"),
        ("/queue/schedules/{name}/pause", "post"),
        ("/queue/schedules/{name}/resume", "post"),
        ("/queue/schedules/{name}/run", "post"),
    }
