"""`gemsdash serve` as an operator starts it: its own process, stopped by SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from gemsdash.queue import Runtime
from tests.core.workload import email, scripted
from tests.http.conftest import AUTH, TOKEN
from tests.support import free_port, wait_for

CLI = "import sys; from gemsdash.cli import main; sys.exit(main(sys.argv[1:]))"


class Served:
    def __init__(self, proc: subprocess.Popen[bytes], client: httpx.Client) -> None:
        self.proc = proc
        self.client = client

    def stop(self) -> tuple[int, str]:
        """SIGTERM, as systemd or Kubernetes stop it; returns the exit code and stderr."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        _, err = self.proc.communicate(timeout=15)
        return self.proc.returncode, err.decode()


@contextmanager
def gemsdash_serve(cwd: Path, **env: str) -> Iterator[Served]:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "GEMSDASH_"))}
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "serve", "--port", str(port)],
        cwd=cwd,  # no .env of the developer's is read
        env={**clean, "GEMSDASH_ADMIN_TOKEN": TOKEN, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    served = Served(proc, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10))

    def answers() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"gemsdash serve exited: {served.stop()[1]}")
        try:
            return served.client.get("/queue/health").status_code in (200, 503)
        except httpx.TransportError:
            return False

    try:
        wait_for(answers, timeout=20, what="gemsdash serve to answer")
        yield served
    finally:
        served.client.close()
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_serve_sees_jobs_run_by_a_worker_in_another_process(
    redis_runtime: Runtime, redis_url: str, namespace: str, tmp_path: Path
) -> None:
    env = {"REDIS_ENABLED": "true", "REDIS_URL": redis_url, "GEMSDASH_NAMESPACE": namespace}
    with gemsdash_serve(tmp_path, **env) as served:
        api = served.client
        created = api.post("/queue/jobs/email-notification", json={"payload": email("ok")}, headers=AUTH)
        assert created.status_code == 201
        job_id = created.json()["id"]
        waiting = api.get("/queue/health")
        assert waiting.status_code == 503
        assert [p["kind"] for p in waiting.json()["problems"]] == ["no_workers", "unserved_queue"]

        with scripted():
            redis_runtime.start_worker(threads=1)  # this test process is the worker; the server only reads
            wait_for(lambda: api.get(f"/queue/jobs/{job_id}").json()["state"] == "succeeded", what="success")
            assert api.get("/queue/health").status_code == 200
            assert api.get("/queue/stats").json()["queues"]["email-notification"]["succeeded"] == 1
        assert served.stop()[0] == 0


def test_sigterm_stops_memory_mode_cleanly_and_warns_of_lost_jobs(tmp_path: Path) -> None:
    with gemsdash_serve(tmp_path) as served:
        body = {"payload": email("ok"), "delay": 600_000}
        assert served.client.post("/queue/jobs/email-notification", json=body, headers=AUTH).status_code == 201
        code, stderr = served.stop()
    assert code == 0
    assert "1 job(s) were still waiting in memory mode" in stderr


def test_serve_writes_one_access_line_per_request_and_no_logging_errors(tmp_path: Path) -> None:
    """Issue 13 item 6: the log redaction emptied every record's arguments, and uvicorn's access
    formatter then wrote ~6 KB of "--- Logging error ---" per request and no access line."""
    with gemsdash_serve(tmp_path) as served:
        api = served.client
        assert api.get("/queue/stats", params={"token": "query-secret-77"}).status_code == 200
        created = api.post("/queue/jobs/email-notification", json={"payload": email("ok")}, headers=AUTH)
        assert created.status_code == 201
        assert api.get("/queue/stats/fax%1B[2J").status_code == 404  # the server decodes it to an ESC
        for _ in range(20):
            assert api.get("/queue/health").status_code in (200, 503)
        code, stderr = served.stop()
    assert code == 0
    assert "Logging error" not in stderr and "Traceback" not in stderr, stderr[:2000]
    access = [line for line in stderr.splitlines() if "gemsdash.http.access" in line]
    assert len(access) >= 23 + 1  # and the helper's readiness probes
    assert re.search(r"GET /queue/stats 200 \d+\.\d ms$", "\n".join(access), re.M)
    assert re.search(r"POST /queue/jobs/email-notification 201 \d+\.\d ms$", "\n".join(access), re.M)
    assert any("GET /queue/stats/fax\\x1b[2J 404" in line for line in access)  # the ESC made visible
    assert "query-secret-77" not in stderr and "\x1b" not in stderr
    assert len(stderr) < 200 * (len(access) + 10)  # a line per request, not kilobytes
