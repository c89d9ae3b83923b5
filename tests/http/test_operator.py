"""Issue 17's queue actions over HTTP: pause and resume (admin token required)."""

from __future__ import annotations

import httpx

from tests.http.conftest import AUTH


def test_pause_and_resume_a_queue(api: httpx.Client) -> None:
    assert api.post("/queue/pause/email-notification").status_code in (401, 403)
    paused = api.post("/queue/pause/email-notification", headers=AUTH)
    assert paused.status_code == 200
    assert paused.json() == {"queue": "email-notification", "paused": True, "changed": True}
    assert api.get("/queue/stats", headers=AUTH).json()["paused"] == ["email-notification"]
    assert api.post("/queue/pause/nope", headers=AUTH).status_code == 404
    resumed = api.post("/queue/resume/email-notification", headers=AUTH)
    assert resumed.json() == {"queue": "email-notification", "paused": False, "changed": True}
    assert api.get("/queue/stats", headers=AUTH).json()["paused"] == []


def test_delete_a_cancelled_job(api: httpx.Client) -> None:
    import gemsdash.queue as q
    from tests.core.workload import email

    job_id = q.add_job("email-notification", email("ok-later"), delay=60_000)
    assert api.delete(f"/queue/jobs/{job_id}", headers=AUTH).status_code == 409, "a delayed job stays"
    q.cancel(job_id)
    assert api.delete(f"/queue/jobs/{job_id}").status_code in (401, 403)
    assert api.delete(f"/queue/jobs/{job_id}", headers=AUTH).status_code == 204
    assert api.get(f"/queue/jobs/{job_id}", headers=AUTH).status_code == 404
    assert api.delete(f"/queue/jobs/{job_id}", headers=AUTH).status_code == 404


def test_abort_a_running_job(api: httpx.Client) -> None:
    import gemsdash.queue as q
    from tests.core.workload import email, scripted
    from tests.support import wait_for

    with scripted():
        job_id = q.add_job("email-notification", email("slow-http"))
        wait_for(lambda: (r := q.get_job(job_id)) is not None and r.state is q.JobState.RUNNING, what="running")
        assert api.post(f"/queue/jobs/{job_id}/abort").status_code in (401, 403)
        accepted = api.post(f"/queue/jobs/{job_id}/abort", headers=AUTH)
        assert accepted.status_code == 202 and accepted.json()["id"] == job_id
        wait_for(
            lambda: (r := q.get_job(job_id)) is not None and r.state is q.JobState.CANCELLED, timeout=5, what="stop"
        )
    assert api.post(f"/queue/jobs/{job_id}/abort", headers=AUTH).status_code == 409


def test_run_a_delayed_job_now(api: httpx.Client) -> None:
    import gemsdash.queue as q
    from tests.core.workload import email, scripted
    from tests.support import wait_for

    with scripted():
        job_id = q.add_job("email-notification", email("ok-later"), delay=60_000)
        assert api.post(f"/queue/jobs/{job_id}/run").status_code in (401, 403)
        ran = api.post(f"/queue/jobs/{job_id}/run", headers=AUTH)
        assert ran.status_code == 200 and ran.json()["id"] == job_id
        wait_for(lambda: (r := q.get_job(job_id)) is not None and r.state is q.JobState.SUCCEEDED, what="ran")
    assert api.post(f"/queue/jobs/{job_id}/run", headers=AUTH).status_code == 409
