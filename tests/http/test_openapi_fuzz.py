"""Schemathesis drives every operation of the published OpenAPI description against the real server.

Two runs: the pytest plugin's (no 5xx, only documented status codes and content types, every
response body valid against its documented schema), and the `schemathesis run` CLI with
`--checks all` and every phase, the stateful one included: it follows the links from
`POST /queue/jobs` to the job routes, so they are called with the ids of jobs that exist.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
    with seeded_server() as client:
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
        ("/queue/health", "head"),
        ("/queue/stats", "get"),
        ("/queue/stats/{type}", "get"),
        ("/queue/dashboard", "get"),
        ("/queue/jobs/{id}", "get"),
        ("/queue/jobs", "post"),
        ("/queue/jobs/{id}/retry", "post"),
        ("/queue/jobs/{id}/cancel", "post"),
        ("/queue/clear/{type}", "delete"),
        ("/metrics", "get"),
    }


@contextmanager
def seeded_server() -> Iterator[httpx.Client]:
    """A dead and a waiting job, so the dashboard's lists and the records it returns are not empty."""
    with scripted():
        dead = add_job(JobType.EMAIL_NOTIFICATION, email("fatal"))
        wait_for(lambda: (r := get_job(dead)) is not None and r.state is JobState.DEAD, what="dead")
    add_job(JobType.EMAIL_NOTIFICATION, email("ok"), delay=600_000)
    with live_server(http_settings(admin_token=TOKEN)) as client:
        yield client


@pytest.mark.slow
def test_schemathesis_cli_all_checks_and_the_stateful_phase_pass(any_runtime: Runtime, tmp_path: Path) -> None:
    """Bounded: 25 examples per operation and a 45 s budget for the whole run."""
    with seeded_server() as client:
        result = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "--config-file",
                str(Path(__file__).with_name("schemathesis.toml")),
                "run",
                f"{client.base_url}/openapi.json",
                "--checks",
                "all",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                "25",
                "--max-time",
                "45",
                "--workers",
                "1",
                "--seed",
                "1",
                "--header",
                f"Authorization: Bearer {TOKEN}",
                "--suppress-health-check",
                "all",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        assert "Stateful" in result.stdout, result.stdout[-3000:]
