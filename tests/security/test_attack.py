"""Attacks tried from outside after issues 12 and 13 were fixed, each pinned by the test that
found it: what a client of the HTTP API, a user of the CLI or a writer of log lines could still do."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gemsdash.queue import Runtime, list_jobs
from gemsdash.queue.admission import message_limit
from tests.core.workload import email
from tests.http.conftest import AUTH, TOKEN, http_settings, live_server


@pytest.fixture
def api(any_runtime: Runtime) -> Iterator[httpx.Client]:
    with live_server(http_settings(admin_token=TOKEN)) as client:
        yield client


def _jobs() -> int:
    return list_jobs("email-notification").total


def test_a_huge_body_is_refused_unread_with_or_without_the_token(api: httpx.Client, any_runtime: Runtime) -> None:
    """FastAPI read and parsed a POST body before checking the token: a 300 MB body sent with no
    token grew `gemsdash serve` from 75 MB to 950 MB before its 401."""
    limit = message_limit(any_runtime.settings.max_payload_bytes)
    huge = b'{"payload": {"subject": "' + b"x" * (limit + 1) + b'"}}'
    for headers in ({}, AUTH):
        answer = api.post("/queue/jobs/email-notification", content=huge, headers=headers)
        assert answer.status_code == 413, (answer.status_code, answer.text[:200])
        assert answer.json() == {"detail": f"request body larger than {limit} bytes"}

        def chunks() -> Iterator[bytes]:
            for _ in range(limit // 65536 + 2):
                yield b"x" * 65536

        chunked = api.post("/queue/jobs/email-notification", content=chunks(), headers=headers)  # no Content-Length
        assert chunked.status_code == 413, chunked.status_code
    assert _jobs() == 0
    # A body under the cap is handed on whole.
    ok = api.post("/queue/jobs/email-notification", json={"payload": email("fits")}, headers=AUTH)
    assert ok.status_code == 201 and ok.json()["payload"]["context"] == {"name": "fits"}
