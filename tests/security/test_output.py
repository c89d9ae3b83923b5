"""What gemsdash writes out: job data on a terminal (CLI, logs) cannot drive it, a record that is
not valid Unicode neither gets in nor breaks a reader, log redaction blanks card numbers and not
timestamps, encoded secrets are masked and the HTTP API reflects nothing of a request."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import redis

import gemsdash.queue as q
from gemsdash.queue import InvalidPayload, JobState, Runtime
from gemsdash.queue.payloads import find_card_number, luhn_valid, redact_card_numbers
from gemsdash.queue.redaction import Redactor
from gemsdash.queue.store import Verdict, parse_record
from gemsdash.queue.visible import find_invalid_text
from tests.core.workload import email, scripted
from tests.http.conftest import AUTH, TOKEN
from tests.security.helpers import one_line_error, run_cli
from tests.support import wait_for

EMAIL = "email-notification"

#: The issue's payload: clear the screen, write the clipboard (OSC 52), plant a link (OSC 8); a C1
#: CSI, a bidi override, Rich markup and a line break that would forge a row of a listing.
HOSTILE = (
    "nope\x1b[2J...\x1b]52;c;SGVsbG8=\x07\x1b]8;;https://evil.example/\x07"
    " \x9b31m \u202egnp.exe [bold red]markup[/] \rFORGED\nFORGED"
)
#: The bytes a terminal acts on: C0 controls (line feed aside), DEL, C1 controls (UTF-8 encoded) and
#: bidi embeddings, overrides and isolates.
RAW_CONTROL = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]")


def _env(runtime: Runtime, redis_url: str) -> dict[str, str]:
    return {"REDIS_ENABLED": "true", "REDIS_URL": redis_url, "GEMSDASH_NAMESPACE": runtime.settings.namespace}


def _cli_bytes(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, bytes, bytes]:
    import subprocess
    import sys

    from tests.security.helpers import BASE_ENV

    proc = subprocess.run(
        [sys.executable, "-m", "gemsdash", *args], env={**BASE_ENV, **env}, cwd=cwd, capture_output=True, timeout=60
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def hostile_dead_job(redis_runtime: Runtime) -> Iterator[str]:
    """A job that died with HOSTILE in its error (PermanentJobError repeats the name it was given)."""
    with scripted():
        redis_runtime.start_worker(threads=2)
        try:
            job_id = q.add_job(EMAIL, email(f"fatal {HOSTILE}"))
            wait_for(lambda: (r := q.get_job(job_id)) is not None and r.state is JobState.DEAD, what="job to die")
        finally:
            redis_runtime.stop_worker()
    yield job_id


@pytest.mark.slow
def test_cli_shows_control_characters_of_job_data_as_escapes(
    redis_runtime: Runtime, redis_url: str, hostile_dead_job: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    ns = redis_runtime.settings.namespace
    forged = {"at": 1764273601606, "action": "retry", "target": f"x{HOSTILE}", "count": 1, "by": f"ops{HOSTILE}"}
    redis_client.lpush(f"{ns}:gd:audit", json.dumps(forged))  # what anyone with write access to Redis could do
    env = _env(redis_runtime, redis_url)
    for args in (["job", hostile_dead_job], ["jobs", EMAIL], ["audit"]):
        code, out, err = _cli_bytes(args, env, tmp_path)
        assert code == 0, err
        assert RAW_CONTROL.search(out) is None, (args, out)
        assert b"nope\\x1b[2J" in out, (args, out)
        if args[0] != "jobs":  # the listing cuts errors at 60 characters
            assert b"\\x1b]52;c;SGVsbG8=\\x07" in out and b"[bold red]markup[/]" in out, (args, out)
    code, out, _ = _cli_bytes(["job", hostile_dead_job], env, tmp_path)
    # The listing keeps one row per job: the line break is escaped there.
    _, listing, _ = _cli_bytes(["jobs", EMAIL], env, tmp_path)
    assert not any(line.startswith(b"FORGED") for line in listing.splitlines())
    # --json stays exact: the encoder escapes, the text comes back unchanged.
    _, exact, _ = _cli_bytes(["job", hostile_dead_job, "--json"], env, tmp_path)
    assert RAW_CONTROL.search(exact.replace(b"\n", b"")) is None
    assert HOSTILE in json.loads(exact)["error"]["message"]
    _, audit, _ = _cli_bytes(["audit", "--json"], env, tmp_path)
    assert json.loads(audit)[0]["by"] == f"ops{HOSTILE}"


def test_log_lines_show_control_characters_as_escapes(redis_runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("gemsdash.test").warning("job said %s", HOSTILE)
    try:
        raise RuntimeError(HOSTILE)
    except RuntimeError:
        logging.getLogger("gemsdash.test").exception("job failed")
    formatted = logging.Formatter("%(message)s").format
    lines = [formatted(r) for r in caplog.records if r.name == "gemsdash.test"]
    assert len(lines) == 2
    for line in lines:
        assert "\x1b" not in line and "\x07" not in line and "\x9b" not in line and "\u202e" not in line
        assert "\\x1b[2J" in line and "\\u202e" in line
    assert "Traceback" in lines[1] and "RuntimeError: nope\\x1b[2J" in lines[1]
    plain = [r for r in caplog.records if r.name == "gemsdash.test" and not r.args]
    assert plain and all(isinstance(r.msg, str) and "\x1b" not in r.msg for r in plain)


def test_formatters_that_read_the_arguments_still_work(redis_runtime: Runtime) -> None:
    """Uvicorn's access formatter unpacks `record.args`; emptied by the redaction, it raised."""
    from uvicorn.logging import AccessFormatter

    record = logging.getLogger("uvicorn.access").makeRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/x\x1b[2J", "1.1", 200),
        None,
    )
    line = AccessFormatter("%(client_addr)s %(request_line)s %(status_code)s", use_colors=False).format(record)
    assert line == "127.0.0.1:5000 GET /x\\x1b[2J HTTP/1.1 200 OK"


# -- lone surrogates ------------------------------------------------------------------------------


def test_a_lone_surrogate_is_refused_at_enqueue_naming_the_field(redis_runtime: Runtime) -> None:
    with pytest.raises(InvalidPayload) as refused:
        q.send_email("ann@example.test", "welcome", {"name": "Ann\ud800"})
    assert refused.value.errors == [("context.name", "is not valid Unicode (a lone surrogate)")]
    with pytest.raises(InvalidPayload):
        q.add_job(EMAIL, {**email("x"), "user_id": "\udcff"})
    assert q.list_jobs(EMAIL).total == 0


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"user_id": "x\ud800", "n": 1}, "user_id"),
        ({"ok": "a", "\udcffkey": "b"}, "\ufffdkey"),
        ({"ok": None, "deep": {"name": "\ud800"}}, "deep.name"),
        ({"list": ["fine", "\udc00"]}, "list.1"),
        ({"ok": "é", "n": 2.5, "b": True, "none": None}, None),
    ],
)
def test_the_flat_payload_fast_path_finds_what_the_walk_finds(payload: dict[str, object], path: str | None) -> None:
    assert find_invalid_text(payload) == path


@pytest.mark.slow
def test_cli_refuses_a_lone_surrogate_and_reads_a_stored_one(
    redis_runtime: Runtime, redis_url: str, hostile_dead_job: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    env = _env(redis_runtime, redis_url)
    payload = json.dumps(email("Ann\ud800"))  # JSON's escape: valid JSON, not valid Unicode
    assert "\\ud800" in payload
    refused = run_cli("enqueue", EMAIL, "--payload", payload, env=env, cwd=tmp_path)
    assert "context.name: is not valid Unicode" in one_line_error(refused)
    assert q.list_jobs(EMAIL).total == 1  # the hostile dead job only: nothing was written
    for args in (["job", "ab\udcff"], ["retry", "ab\udcff"], ["jobs", EMAIL, "--search", "\udcff"]):
        assert "not valid text" in one_line_error(run_cli(*args, env=env, cwd=tmp_path))  # bytes 0xff in argv

    _store_a_lone_surrogate(redis_client, redis_runtime, hostile_dead_job)
    for args in (
        ["jobs", EMAIL],
        ["job", hostile_dead_job],
        ["jobs", EMAIL, "--json"],
        ["job", hostile_dead_job, "--json"],
    ):
        run = run_cli(*args, env=env, cwd=tmp_path)
        assert run.returncode == 0 and "Traceback" not in run.stderr, (args, run.stderr)
        if args != ["jobs", EMAIL]:  # the listing shows no payload and cuts the error short
            assert "\ufffd" in run.stdout or "\\ufffd" in run.stdout, args


def _store_a_lone_surrogate(client: redis.Redis, runtime: Runtime, job_id: str) -> None:
    """Rewrite a stored record as one written before enqueue refused lone surrogates (or by hand)."""
    key = f"{runtime.settings.namespace}:gd:job:{job_id}"
    raw = client.get(key)
    assert raw is not None
    record = parse_record(raw)
    payload = json.loads(record["payload"])
    payload["context"]["name"] = "Ann\ud800"
    record["payload"] = json.dumps(payload)
    record["error"]["message"] += " \udcff"
    client.set(key, json.dumps(record), keepttl=True)


def test_http_refuses_a_lone_surrogate_and_reads_a_stored_one(
    redis_runtime: Runtime, hostile_dead_job: str, redis_client: redis.Redis
) -> None:
    from tests.http.conftest import http_settings, live_server

    with live_server(http_settings(admin_token=TOKEN)) as api:
        body = '{"payload": ' + json.dumps(email("Ann\ud800")) + "}"
        refused = api.post(f"/queue/jobs/{EMAIL}", content=body, headers={**AUTH, "content-type": "application/json"})
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"] == [
            {"field": "context.name", "message": "is not valid Unicode (a lone surrogate)"}
        ]
        assert q.list_jobs(EMAIL).total == 1  # nothing written: a retrying client cannot enqueue it twice

        _store_a_lone_surrogate(redis_client, redis_runtime, hostile_dead_job)
        ns = redis_runtime.settings.namespace  # and a worker heartbeat written by hand
        beat = {"host": "h\udcff", "pid": 1, "threads": 1, "started_at": 1, "in_flight": 0, "queues": []}
        redis_client.set(f"{ns}:gd:worker:forged", json.dumps(beat))
        redis_client.zadd(f"{ns}:gd:workers", {"forged": 4_000_000_000_000})
        one = api.get(f"/queue/jobs/{hostile_dead_job}")
        assert one.status_code == 200, one.text
        assert one.json()["payload"]["context"]["name"] == "Ann\ufffd"
        dashboard = api.get("/queue/dashboard")
        assert dashboard.status_code == 200, dashboard.text
        assert dashboard.json()["recent_failures"][0]["error"]["message"].endswith("\ufffd")
        assert [w["host"] for w in dashboard.json()["workers"]] == ["h\ufffd"]


# -- card numbers: where they can be, as scanners check them -----------------------------------------

#: Published test numbers, one or two per network (Stripe, Adyen, PayPal lists).
TEST_CARDS = {
    "Visa": ["4242424242424242", "4111111111111111", "4222222222222", "4000056655665556"],
    "Mastercard": ["5555555555554444", "2223003122003222", "5105105105105100"],
    "American Express": ["378282246310005", "371449635398431"],
    "Discover": ["6011111111111117", "6011000990139424", "6445644564456445"],
    "Diners Club": ["30569309025904", "38520000023237", "3056930009020004"],
    "JCB": ["3530111333300000", "3566002020360505"],
    "UnionPay": ["6200000000000005", "6205500000000000004"],
    "Maestro": ["6759649826438453"],
    "Mir": ["2200000000000004"],
}


def _luhn_valid_timestamp() -> str:
    stamp = 1764273601600
    while True:
        digits = str(stamp)
        if luhn_valid(digits):
            return digits
        stamp += 1


@pytest.mark.parametrize(("network", "number"), [(n, c) for n, cards in TEST_CARDS.items() for c in cards])
def test_test_cards_of_every_network_are_still_caught(network: str, number: str) -> None:
    assert redact_card_numbers(f"charge {number} now") == "charge [card number] now", network
    assert find_card_number({"note": number}) == "note"


def test_timestamps_order_ids_and_phone_numbers_are_not_card_numbers(
    redis_runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    stamp = _luhn_valid_timestamp()  # 13 digits, Luhn-valid, starts with 1: one ms timestamp in ten
    not_cards = [
        stamp,
        f"eta={stamp}",
        str(int(stamp) * 1000 + 7),  # a microsecond timestamp
        "order 1000000000000009",  # Luhn-valid, 16 digits, no network starts with 1
        "ORD-9000000000000000008",
        "+4915112345678",  # E.164 phone numbers
        "+1 415 555 2671",
        "call 004915112345670",
    ]
    for text in not_cards:
        assert redact_card_numbers(text) == text
        assert find_card_number({"note": text}) is None, text
    caplog.set_level(logging.INFO)
    logging.getLogger("gemsdash.test").info("message timestamp %s eta=%s", stamp, stamp)
    assert f"message timestamp {stamp} eta={stamp}" in caplog.text
    job_id = q.add_job(EMAIL, {**email("Ann"), "user_id": stamp})  # a user id may look like anything
    assert job_id


# -- smaller leaks ------------------------------------------------------------------------------------


def test_encoded_forms_of_a_known_secret_are_masked() -> None:
    secret = "smtp-Secret-4j9x"
    redactor = Redactor([secret])
    echoes = [
        base64.b64encode(secret.encode()).decode(),
        quote(secret, safe=""),
        *(base64.b64encode(f"\0{user}\0{secret}".encode()).decode() for user in ("mailer", "a", "ab", "abc")),
    ]
    for echo in echoes:
        shown = redactor.text(f"(535, b'5.7.8 Bad credentials {echo}')")
        assert echo not in shown and "***" in shown
        # What is left around the mask is at most two characters of the encoding on each side.
        left = shown.split("Bad credentials ")[1].split("'")[0]
        assert len(left.replace("***", "").replace("=", "")) <= 12, left


def test_a_javascript_reset_url_is_refused_at_enqueue(redis_runtime: Runtime) -> None:
    for url in (
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<b>x</b>",
        " https://x.test",
        "//x.test/",
    ):
        with pytest.raises(InvalidPayload) as refused:
            q.send_email("ann@example.test", "password-reset", {"name": "Ann", "reset_url": url})
        assert refused.value.errors == [("context.reset_url", "must be an http:// or https:// URL")]
    assert q.list_jobs(EMAIL).total == 0
    assert q.send_email("ann@example.test", "password-reset", {"name": "Ann", "reset_url": "https://x.test/r/1"})


def test_http_errors_do_not_echo_the_request(memory_runtime: Runtime) -> None:
    from tests.http.conftest import http_settings, live_server

    probe = "<script>alert(1)</script>"
    with live_server(http_settings(admin_token=TOKEN)) as api:
        answers: list[httpx.Response] = [
            api.get(f"/queue/stats/{probe}"),
            api.post(f"/queue/jobs/{probe}", json={"payload": {}}, headers=AUTH),
            api.delete(f"/queue/clear/{probe}", headers=AUTH),
            api.get(f"/queue/jobs/{probe}"),
            api.post(f"/queue/jobs/{probe}/retry", headers=AUTH),
        ]
        done = q.add_job(EMAIL, email("ok"), delay=60_000)
        q.cancel(done)
        answers.append(api.post(f"/queue/jobs/{done}/cancel", headers=AUTH))
    assert [a.status_code for a in answers] == [404, 404, 404, 404, 404, 409]
    for answer in answers:
        assert probe not in answer.text and quote(probe) not in answer.text and done not in answer.text, answer.text


def test_a_redelivered_last_attempt_never_counts_past_the_maximum(any_runtime: Runtime) -> None:
    """A worker lost during a job's last attempt: the message comes back with the same retry count."""
    from gemsdash.queue.messages import job_message
    from gemsdash.queue.registry import spec_for

    job_id = q.add_job(EMAIL, email("ok"), attempts=3, delay=60_000)
    spec = spec_for(EMAIL)
    message = job_message(spec, email("ok"), spec.options(attempts=3), job_id)
    message = message.copy(options={**message.options, "retries": 2})  # the third, last attempt
    for _ in range(3):  # run, lost, redelivered, lost, redelivered
        assert any_runtime.store.start(message, "w1", None).verdict is Verdict.RUN
    shown = q.get_job(job_id)
    assert shown is not None and (shown.attempts, shown.max_attempts) == (3, 3)
    assert "redelivered after its worker was lost" in (shown.timeline[-1].note or "")
