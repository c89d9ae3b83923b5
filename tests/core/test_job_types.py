"""A job type is one module plus one line of configuration: the README's example (tests/plugins/
word_count.py), loaded by `GEMSDASH_JOB_TYPES` or an entry point, runs end to end in both modes and
shows up everywhere a built-in does; a broken plugin stops every process with one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import gemsdash.queue as q
from gemsdash.queue import InvalidPayload, JobState, JobType, Runtime, configure
from gemsdash.queue import registry as job_types
from gemsdash.queue import runtime as runtime_module
from tests.conftest import test_settings
from tests.faults.test_unserved import dramatiq_env
from tests.security.helpers import one_line_error, run_cli
from tests.support import wait_for

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "tests" / "plugins"
CONFIG = "word_count:JOB_TYPE"  # the one line of configuration
SECRET = "lic-7f3a9c2e"
PAYLOAD = {"text": "one two three four", "userId": "user123", "licenseCode": SECRET}


@pytest.fixture
def word_count(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process with the example type registered, as `GEMSDASH_JOB_TYPES` registers it."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    monkeypatch.setenv("GEMSDASH_JOB_TYPES", CONFIG)
    job_types.reset()
    yield
    runtime_module.reset()
    job_types.reset()


def plugin_env(redis_runtime: Runtime, redis_url: str, data_dir: Path) -> dict[str, str]:
    return dramatiq_env(redis_runtime, redis_url, data_dir) | {"PYTHONPATH": str(PLUGINS), "GEMSDASH_JOB_TYPES": CONFIG}


def test_the_readme_shows_the_example_module_whole() -> None:
    module = (PLUGINS / "word_count.py").read_text()
    assert len(module.splitlines()) < 30
    for doc in ("README.md", "docs/job-types.md"):
        text = (ROOT / doc).read_text()
        assert module in text, f"{doc} must show tests/plugins/word_count.py as it is"
        assert f"GEMSDASH_JOB_TYPES={CONFIG}" in text


def test_a_plugin_type_runs_in_memory_mode_and_shows_everywhere(word_count: None, namespace: str) -> None:
    runtime = configure(test_settings(redis_enabled=False, namespace=namespace), role="host")
    runtime.start_worker(threads=2)
    assert "word-count" in q.QUEUES and JobType("word-count").queue == "word-count"
    job_id = q.add_job("word-count", PAYLOAD)
    record = wait_for(lambda: (r := q.get_job(job_id)) is not None and r.state.finished and r, what="word-count")
    assert record.state is JobState.SUCCEEDED, record.error
    assert record.result == {"words": 4, "user_id": "user123"}
    assert record.priority.value == "low" and record.max_attempts == 2  # the definition's defaults
    assert record.payload == {"text": "one two three four", "user_id": "user123", "license_code": SECRET}
    assert q.mask_payload(record.payload)["license_code"] == "***"
    snapshot, page = q.dashboard_view("word-count")
    assert snapshot.queues["word-count"].counts[JobState.SUCCEEDED] == 1 and [j.id for j in page.jobs] == [job_id]
    assert q.stats_json()["queues"]["word-count"]["succeeded"] == 1


@pytest.mark.slow
def test_a_plugin_type_runs_on_a_gemsdash_worker_in_redis_mode(
    word_count: None, redis_runtime: Runtime, redis_url: str, tmp_path: Path
) -> None:
    env = plugin_env(redis_runtime, redis_url, tmp_path)
    enqueued = run_cli("enqueue", "word-count", "--payload", json.dumps(PAYLOAD), env=env, cwd=tmp_path)
    assert enqueued.returncode == 0, enqueued.stderr
    job_id = enqueued.stdout.strip()
    worker = subprocess.Popen(
        [sys.executable, "-m", "gemsdash", "worker", "--processes", "1", "--threads", "1"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (r := q.get_job(job_id)) is not None and r.state.finished, timeout=90, interval=0.2)
    finally:
        os.kill(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    shown = json.loads(run_cli("job", job_id, "--json", env=env, cwd=tmp_path).stdout)
    assert shown["state"] == "succeeded" and shown["result"] == {"words": 4, "user_id": "user123"}
    assert shown["payload"]["license_code"] == "***" and SECRET not in json.dumps(shown)
    stats = json.loads(run_cli("stats", "--json", env=env, cwd=tmp_path).stdout)
    assert stats["queues"]["word-count"]["succeeded"] == 1
    listed = json.loads(run_cli("jobs", "word-count", "--json", env=env, cwd=tmp_path).stdout)
    assert [j["id"] for j in listed["jobs"]] == [job_id]
    snapshot, _ = q.dashboard_view("word-count")
    assert snapshot.queues["word-count"].counts[JobState.SUCCEEDED] == 1
    waiting = run_cli("enqueue", "word-count", "--payload", json.dumps(PAYLOAD), env=env, cwd=tmp_path).stdout.strip()
    cleared = run_cli("clear", "word-count", "--yes", env=env, cwd=tmp_path)
    assert cleared.returncode == 0, cleared.stderr
    assert q.get_job(waiting).state is JobState.CANCELLED  # type: ignore[union-attr]


ENTRY_POINT_SCRIPT = """
import gemsdash.queue as q
runtime = q.configure(q.Settings(_env_file=None, redis_enabled=False), role="host")
runtime.start_worker(threads=1)
job_id = q.add_job("word-count", {"text": "a b", "user_id": "u1"})
import time
deadline = time.monotonic() + 30
while not q.get_job(job_id).state.finished and time.monotonic() < deadline:
    time.sleep(0.05)
print(q.get_job(job_id).model_dump_json(include={"state", "result"}))
runtime.stop_worker()
"""


def test_a_plugin_type_installed_as_an_entry_point_runs(tmp_path: Path) -> None:
    """A distribution's `gemsdash.job_types` entry point, without pip: a dist-info on sys.path."""
    (tmp_path / "word_count.py").write_text((PLUGINS / "word_count.py").read_text())
    dist = tmp_path / "word_count-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: word-count\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[gemsdash.job_types]\nword-count = word_count:JOB_TYPE\n")
    run = subprocess.run(
        [sys.executable, "-c", ENTRY_POINT_SCRIPT],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path), "GEMSDASH_DATA_DIR": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"state": "succeeded", "result": {"words": 2, "user_id": "u1"}}


BROKEN = {
    "raises.py": "raise RuntimeError('no licence server')\n",
    "twice.py": "from gemsdash.actors.email import JOB_TYPE\n",
    "bad_name.py": "import gemsdash\nfrom word_count import count_words, WordCountPayload\n"
    "JOB_TYPE = gemsdash.define_job_type('Word Count', payload=WordCountPayload, handler=count_words)\n",
    "bad_defaults.py": "import gemsdash\nfrom word_count import count_words, WordCountPayload\n"
    "JOB_TYPE = gemsdash.define_job_type('wc', payload=WordCountPayload, handler=count_words, attempts=0)\n",
    "bad_example.py": "import gemsdash\nfrom word_count import count_words, WordCountPayload\n"
    "JOB_TYPE = gemsdash.define_job_type('wc', payload=WordCountPayload, handler=count_words, example={'text': ''})\n",
    "not_a_type.py": "JOB_TYPE = 42\n",
    "exits.py": "import sys\nsys.exit('licence expired \\x1b[2J')\n",
}


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("missing_module:JOB_TYPE", "cannot import missing_module: ModuleNotFoundError"),
        ("raises:JOB_TYPE", "cannot import raises: RuntimeError: no licence server"),
        # a module that exits while imported: named, not the process ending with its text (raw escapes)
        ("exits:JOB_TYPE", "cannot import exits: SystemExit: licence expired \\x1b[2J"),
        ("twice:JOB_TYPE", "'email-notification' is already defined by gemsdash.actors.email:JOB_TYPE"),
        ("bad_name:JOB_TYPE", "job type name 'Word Count': use lower-case letters"),
        ("bad_defaults:JOB_TYPE", "job type 'wc': attempts must be a whole number from 1 to 25, not 0"),
        ("bad_example:JOB_TYPE", "job type 'wc': the example payload is not valid"),
        ("not_a_type:JOB_TYPE", "JOB_TYPE is a int, not a gemsdash.define_job_type(...)"),
        ("word_count", "GEMSDASH_JOB_TYPES: 'word_count' is not module:attribute"),
        (f"{CONFIG},word_count:JOB_TYPE ,{CONFIG.replace('JOB_TYPE', 'count_words')}", "count_words is a function"),
    ],
)
def test_a_broken_plugin_stops_the_cli_with_one_line_naming_it(tmp_path: Path, configured: str, expected: str) -> None:
    for name, text in BROKEN.items():
        (tmp_path / name).write_text(text)
    env = {"PYTHONPATH": f"{tmp_path}:{PLUGINS}", "GEMSDASH_JOB_TYPES": configured}
    line = one_line_error(run_cli("stats", env=env, cwd=tmp_path))
    assert expected in line
    source = configured.split(",")[-1].strip()
    assert source in line or source.partition(":")[0] in line


@pytest.mark.parametrize(
    "argv",
    [
        ["-m", "gemsdash", "worker"],
        ["-m", "gemsdash", "serve", "--port", "0"],
        ["-m", "gemsdash"],
        ["-m", "dramatiq", "gemsdash.actors", "--processes", "1", "--threads", "1"],
    ],
    ids=["worker", "serve", "dashboard", "dramatiq"],
)
def test_a_broken_plugin_stops_every_long_lived_process_with_one_line(tmp_path: Path, argv: list[str]) -> None:
    (tmp_path / "raises.py").write_text(BROKEN["raises.py"])
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(tmp_path),
        "GEMSDASH_JOB_TYPES": "raises:JOB_TYPE",
        "REDIS_ENABLED": "true",
        "REDIS_URL": "redis://127.0.0.1:1/0",  # never reached: the plugin is refused first
    }
    run = subprocess.run([sys.executable, *argv], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=90)
    assert run.returncode == 2, run.stderr
    ours = [line for line in run.stderr.splitlines() if line.startswith("gemsdash: ")]
    assert len(ours) == 1 and "job type plugin raises:JOB_TYPE: cannot import raises" in ours[0], run.stderr
    assert "Traceback" not in run.stderr


def test_importing_the_job_code_connects_to_nothing(tmp_path: Path) -> None:
    """No side effect at import: a Redis that does not exist is never noticed."""
    script = "import gemsdash.actors, gemsdash.actors.email, gemsdash.queue.runtime as r; assert r.configured() is None"
    env = {"PATH": "/usr/bin:/bin", "REDIS_ENABLED": "true", "REDIS_URL": "redis://127.0.0.1:1/0"}
    run = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_an_unknown_job_type_is_refused_with_the_known_ones_named() -> None:
    with pytest.raises(q.UnknownJobType, match="expected one of: sketch-generation, emotion-analysis"):
        JobType("word-count")
    assert list(JobType)[:4] == [
        JobType.SKETCH_GENERATION,
        JobType.EMOTION_ANALYSIS,
        JobType.EMAIL_NOTIFICATION,
        JobType.PAYMENT_PROCESSING,
    ]


# -- the seed's camelCase field names -----------------------------------------------------------------


def test_camel_case_fields_are_accepted_and_stored_snake_case(idle_memory_runtime: Runtime) -> None:
    job_id = q.add_job(
        "payment-processing",
        {
            "paymentId": "pay_1",
            "operation": "verify",
            "amount": 0,
            "currency": "USD",
            "paymentMethod": "pm_card_visa",
            "idempotencyKey": "k-1",
        },
    )
    record = q.get_job(job_id)
    assert record is not None and set(record.payload) == {
        "payment_id",
        "operation",
        "amount",
        "currency",
        "payment_method",
        "idempotency_key",
    }
    emotion = q.add_job("emotion-analysis", {"analysisType": "text", "text": "so happy", "userId": "user123"})
    assert q.get_job(emotion).payload["analysis_type"] == "text"  # type: ignore[union-attr]


def test_both_spellings_of_one_field_or_an_unknown_one_are_refused(memory_runtime: Runtime) -> None:
    sketch = {"prompt": "a fox", "user_id": "u1"}
    with pytest.raises(InvalidPayload, match="user_id: given twice, as user_id and userId: send one"):
        q.add_job("sketch-generation", {**sketch, "userId": "u2"})
    with pytest.raises(InvalidPayload, match="userID: Extra inputs are not permitted"):
        q.add_job("sketch-generation", {"prompt": "a fox", "userID": "u1"})


def test_a_fetched_message_in_camel_case_runs_and_is_recorded_snake_case(memory_runtime: Runtime) -> None:
    from gemsdash.queue.handlers import actor_of

    message = actor_of(JobType.SKETCH_GENERATION).send({"prompt": "a fox", "userId": "user123"})
    record = wait_for(
        lambda: (r := q.get_job(message.message_id)) is not None and r.state.finished and r, what="the sketch"
    )
    assert record.state is JobState.SUCCEEDED, record.error
    assert record.payload == {"prompt": "a fox", "user_id": "user123"}


def test_the_enqueue_dialog_starts_from_the_definitions_example(word_count: None) -> None:
    from gemsdash.tui.dialogs.enqueue import check, example_text

    text = example_text(JobType("word-count"))
    assert json.loads(text) == {"text": "the quick brown fox", "user_id": "user-42"}
    assert check(JobType("word-count"), text, None, "").valid


def test_a_plugin_type_is_served_by_the_http_api(word_count: None, namespace: str) -> None:
    from tests.http.conftest import AUTH, TOKEN, http_settings, live_server

    configure(test_settings(redis_enabled=False, namespace=namespace), role="host").start_worker(threads=1)
    with live_server(http_settings(admin_token=TOKEN)) as api:
        created = api.post("/queue/jobs", json={"type": "word-count", "payload": PAYLOAD}, headers=AUTH)
        assert created.status_code == 201, created.text
        assert created.json()["payload"]["license_code"] == "***"
        schema = api.get("/openapi.json").json()["components"]["schemas"]
        assert "WordCountPayload" in schema and "EnqueueWordCount" in schema
        job_id = created.json()["id"]
        wait_for(lambda: api.get(f"/queue/jobs/{job_id}").json()["state"] == "succeeded", what="word-count")
        assert 'queue="word-count"' in api.get("/metrics").text


def test_a_failing_plugin_job_is_retried_then_dead_lettered_like_a_built_in(word_count: None, namespace: str) -> None:
    """The definition's attempts (2) and fixed backoff (500 ms) drive Retries; the last failure is
    a dead job with the handler's error, and `retry` brings it back to run again."""
    from gemsdash.queue.handlers import override_work

    runs: list[float] = []

    def flaky(payload: object) -> object:
        runs.append(1.0)
        raise RuntimeError(f"gateway said no (run {len(runs)})")

    runtime = configure(test_settings(redis_enabled=False, namespace=namespace), role="host")
    runtime.start_worker(threads=2)
    with override_work("word-count", flaky):
        job_id = q.add_job("word-count", PAYLOAD)
        record = wait_for(lambda: (r := q.get_job(job_id)) is not None and r.state.finished and r, what="dead")
    assert record.state is JobState.DEAD and record.attempts == 2 == len(runs)
    assert record.error is not None and "gateway said no (run 2)" in record.error.message
    states = [entry.state for entry in record.timeline]
    assert JobState.RETRYING in states and states[-1] is JobState.DEAD
    q.retry(job_id)
    again = wait_for(lambda: (r := q.get_job(job_id)) is not None and r.state is JobState.SUCCEEDED and r, what="rerun")
    assert again.result == {"words": 4, "user_id": "user123"}
