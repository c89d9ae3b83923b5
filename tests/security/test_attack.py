"""Attacks tried from outside after issues 12 and 13 were fixed, each pinned by the test that
found it: what a client of the HTTP API, a user of the CLI or a writer of log lines could still do."""

from __future__ import annotations

import json
import logging
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from gemsdash.cli import main
from gemsdash.queue import JobState, JobType, Runtime, add_job, get_job, list_jobs
from gemsdash.queue.admission import message_limit
from gemsdash.queue.jobs import now_ms
from gemsdash.queue.store import parse_record
from tests.core.workload import email, scripted
from tests.http.conftest import AUTH, TOKEN, http_settings, live_server
from tests.security.helpers import BASE_ENV, run_cli
from tests.security.test_forged import message, push_message, refused
from tests.support import wait_for


@pytest.fixture
def api(any_runtime: Runtime) -> Iterator[httpx.Client]:
    with live_server(http_settings(admin_token=TOKEN)) as client:
        yield client


def succeeded(job_id: str) -> bool:
    record = get_job(job_id)
    return record is not None and record.state is JobState.SUCCEEDED


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


def test_a_line_break_in_the_path_cannot_forge_an_access_log_line(
    api: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    """`GET /queue/jobs/a%0A2026-12-01 INFO forged` wrote a second, forged line into serve's log:
    the server decodes %0A to a line break, and log lines keep line breaks (for tracebacks)."""
    caplog.set_level(logging.INFO, logger="gemsdash.http.access")
    forged = "INFO gemsdash.http.access: DELETE /queue/clear/payment-processing 200 1.0 ms"
    assert api.get(f"/queue/jobs/a%0A{forged}%0D%09").status_code == 404

    def access_lines() -> list[str]:
        # The line is written once the answer has gone out: wait for it.
        found = [r.getMessage() for r in caplog.records if r.name == "gemsdash.http.access"]
        return [line for line in found if "/queue/jobs/a" in line]

    lines = wait_for(access_lines, timeout=10, what="the access line")
    assert len(lines) == 1, lines
    assert "\n" not in lines[0] and "\r" not in lines[0] and "\t" not in lines[0], lines
    assert "/queue/jobs/a\\x0aINFO gemsdash.http.access: DELETE" in lines[0] and "\\x0d\\x09 404" in lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["stats", "\x1b]52;c;SGVsbG8=\x07\x1b[2J"],  # "unrecognized arguments: ..."
        ["health", "--json", "\x9b2J", "\u202eevil"],  # C1 CSI and a bidi override
        ["job", "x", "\x1b]8;;https://evil.example/\x07"],  # OSC 8 hidden link
    ],
)
def test_a_usage_error_repeats_no_control_character(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """argparse repeated unrecognized arguments raw: `gemsdash stats $'\\e]52;c;...\\a'` wrote the
    clipboard of the terminal reading the error (and a script passing on an untrusted id would)."""
    assert main(argv) == 2
    out, err = capsys.readouterr()
    # One line on stderr, or with --json `{"error", "code"}` on stdout (the encoder escapes it).
    shown = err if "--json" not in argv else json.loads(out)["error"]
    assert "unrecognized arguments" in shown or "invalid" in shown, (out, err)
    assert not any(c in out + err for c in "\x1b\x07\x9b\u202e"), repr(out + err)
    if "--json" not in argv:
        assert "\\x" in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["serve", "--port", "70000"], "argument --port: invalid port: 70000 (0..65535)"),
        (["serve", "--port", "-1"], "argument --port: invalid port: -1 (0..65535)"),
        (["--refresh", "nan"], "gemsdash: --refresh must be positive and finite"),
        (["--refresh", "inf"], "gemsdash: --refresh must be positive and finite"),
    ],
)
def test_an_impossible_port_or_refresh_is_a_usage_error(argv: list[str], error: str, tmp_path: Path) -> None:
    """`serve --port 70000` ended in uvicorn's OverflowError traceback; `--refresh nan` started a
    dashboard that never loaded anything ("every nans", "loading…")."""
    run = run_cli(*argv, env={}, cwd=tmp_path)
    assert run.returncode == 2, (run.returncode, run.stderr[-500:])
    assert "Traceback" not in run.stderr and error in run.stderr.strip().splitlines()[-1], run.stderr


@pytest.mark.parametrize("timestamp", [10**30, -(10**15), 2**63])
def test_a_forged_message_timestamp_cannot_poison_the_listings(
    redis_runtime: Runtime, redis_client: redis.Redis, cli_env: dict[str, str], tmp_path: Path, timestamp: int
) -> None:
    """A pushed message with `message_timestamp: 1e30` (an integer, so admitted) ran, and its record's
    `created_at` then raised OverflowError (ValueError for a negative one) in every reader:
    `gemsdash jobs <queue>` and `gemsdash job ID` ended in a traceback, for every job of the queue."""
    redis_runtime.start_worker(threads=2)
    ns = redis_runtime.settings.namespace
    forged = message()
    forged["message_timestamp"] = timestamp
    with scripted() as work:
        # Inside: a job sent before the script is in place may run unscripted (not in `started`).
        real = add_job(JobType.EMAIL_NOTIFICATION, email("real"))
        rmid = push_message(redis_client, ns, forged)
        error = refused(rmid)
        wait_for(lambda: succeeded(real), timeout=30, what="the real job")
    assert "invalid message: message_timestamp is not a time of this era" in error, error
    assert work.started == ["real"]
    listing = run_cli("jobs", "email-notification", env=cli_env, cwd=tmp_path)
    assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stderr[-800:]
    assert real in listing.stdout and rmid in listing.stdout


def test_a_forged_eta_outside_the_delay_queue_cannot_stall_the_queue(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    """Nine messages with a 6-day `eta` (within the admitted horizon) pushed to the email queue
    itself, not its delay queue, were held in the worker's memory with no record, each holding one
    of the consumer's prefetch slots: a real email enqueued after them stayed `queued` for 6 days."""
    redis_runtime.start_worker(threads=2)
    ns = redis_runtime.settings.namespace
    six_days = 6 * 24 * 3600 * 1000
    with scripted() as work:
        rmids = [push_message(redis_client, ns, message(eta=now_ms() + six_days)) for _ in range(9)]
        real = add_job(JobType.EMAIL_NOTIFICATION, email("real"))
        wait_for(lambda: succeeded(real), timeout=30, what="the real job")
        errors = [refused(rmid) for rmid in rmids]
    assert all("invalid message: option 'eta' outside a delay queue" in e for e in errors), errors
    assert work.started == ["real"]
    assert redis_client.hlen(f"{ns}:email-notification.msgs") == 0


def test_a_reader_leaving_early_gets_no_traceback(
    redis_runtime: Runtime, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """`gemsdash jobs email-notification | head -1` ended in a BrokenPipeError traceback."""
    for i in range(60):
        add_job(JobType.EMAIL_NOTIFICATION, email(f"job-{i}"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gemsdash", "jobs", "email-notification", "--limit", "60"],
        env={**BASE_ENV, **cli_env},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `head` once it has its line
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0  # the reader chose to stop: not a failure (as issue 17 asks)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr


def test_a_card_number_as_an_unknown_body_key_is_not_echoed(api: httpx.Client) -> None:
    """The payload's keys were scanned ("[card number]: looks like a raw card number"), but an
    unknown key of the body itself came back whole in the 422 answer."""
    body = {"payload": email("x"), "4242424242424242": 1, "4111-1111-1111-1111": 2}
    answer = api.post("/queue/jobs/email-notification", json=body, headers=AUTH)
    assert answer.status_code == 422
    assert "4242424242424242" not in answer.text and "4111-1111-1111-1111" not in answer.text, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["[card number]", "[card number]"]


def _at_most_2_gb() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))  # a failing run must not take the machine


@pytest.mark.parametrize("source", ["@/dev/zero", "-"])
def test_an_endless_payload_source_is_refused_after_the_limit(
    redis_runtime: Runtime, cli_env: dict[str, str], tmp_path: Path, source: str
) -> None:
    """`--payload @/dev/zero` read until memory ran out (still reading after 20 s), and an endless
    standard input ended in a MemoryError traceback."""
    with open("/dev/zero", "rb") as zeros:
        run = subprocess.run(
            [sys.executable, "-m", "gemsdash", "enqueue", "email-notification", "--payload", source],
            env={**BASE_ENV, **cli_env},
            cwd=tmp_path,
            stdin=zeros,
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=_at_most_2_gb,
        )
    limit = message_limit(redis_runtime.settings.max_payload_bytes)
    assert run.returncode == 2 and run.stderr == f"gemsdash: --payload is larger than {limit} characters\n", run.stderr[
        -500:
    ]
    assert _jobs() == 0


@pytest.mark.slow
@pytest.mark.parametrize("stamp", [10**30, -(10**15)])
def test_a_stored_stamp_out_of_range_cannot_break_a_listing(
    redis_runtime: Runtime, redis_client: redis.Redis, cli_env: dict[str, str], tmp_path: Path, stamp: int
) -> None:
    """A record written before admission checked `message_timestamp` (or by hand) with a
    `created_at` past year 9999 failed every reader of its queue: `gemsdash jobs` and `job` ended in
    a traceback, the dashboard said "disconnected". It is shown at that end of the range instead.
    (Jobs with a record while they wait: their retries wait no time. The stamp of one that waits as
    its message alone is its score in `fresh`: out of range there, the job is not read at all.)"""
    job_id = add_job(JobType.EMAIL_NOTIFICATION, email("stamp"), backoff={"delay": 0})
    other = add_job(JobType.EMAIL_NOTIFICATION, email("other"), backoff={"delay": 0})
    waiting = add_job(JobType.EMAIL_NOTIFICATION, email("waiting"))
    redis_client.zadd(f"{redis_runtime.settings.namespace}:gd:fresh:email-notification", {waiting: stamp})
    assert get_job(waiting) is None
    key = f"{redis_runtime.settings.namespace}:gd:job:{job_id}"
    record = parse_record(redis_client.get(key) or b"null")
    record["created_at"] = stamp
    redis_client.set(key, json.dumps(record), keepttl=True)
    assert {j.id for j in list_jobs("email-notification").jobs} == {job_id, other}
    shown = get_job(job_id)
    assert shown is not None and shown.created_at.year == (9999 if stamp > 0 else 1)
    for args in (["jobs", "email-notification"], ["job", job_id], ["job", job_id, "--json"]):
        run = run_cli(*args, env=cli_env, cwd=tmp_path)
        assert run.returncode == 0 and "Traceback" not in run.stderr, (args, run.stderr[-600:])
