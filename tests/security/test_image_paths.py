"""emotion-analysis's `image_path` is confined to the images folder: paths that leave it are refused
at enqueue (exit 2 / 422 naming the field), and at run time every unusable path (outside, a
symlink, a FIFO, a directory, missing, not an image) fails with one and the same error, fast,
without wedging a worker thread; a valid image inside still works."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

import gemsdash.queue as q
from gemsdash.actors.settings import ActorSettings, load_actor_settings, use_settings
from gemsdash.queue import InvalidPayload, JobState, JobType, Runtime
from gemsdash.queue.handlers import actor_of
from gemsdash.queue.payloads import IMAGE_PATH_RULE
from tests.actors.waiting import finished
from tests.http.conftest import AUTH, TOKEN, http_settings, live_server
from tests.security.helpers import one_line_error, run_cli

#: The job error for every unusable image_path: the enqueue-time field error, word for word.
UNUSABLE = f"invalid emotion-analysis payload: image_path: {IMAGE_PATH_RULE}"
LEAVING = ["../../etc/passwd", "/etc/shadow", "a/../../../etc/passwd", "..", "~/x.png", "x\x1b[2J.png"]


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """The images folder (the data directory) of the worker, with a valid image and traps in it."""
    data = tmp_path / "data"
    (data / "uploads").mkdir(parents=True)
    Image.new("RGB", (64, 48), (250, 215, 40)).save(data / "uploads" / "sunny.png")
    outside = tmp_path / "secret.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(outside)
    (data / "outside.png").symlink_to(outside)
    (data / "linked").symlink_to(tmp_path)
    (data / "inside-link.png").symlink_to(data / "uploads" / "sunny.png")
    os.mkfifo(data / "pipe.png")
    (data / "notes.png").write_text("this is not a PNG")
    use_settings(load_actor_settings(_env_file=None, data_dir=data))
    yield data
    use_settings(None)


def payload(image_path: str) -> dict[str, str]:
    return {"analysis_type": "image", "image_path": image_path, "user_id": "u1"}


@pytest.mark.parametrize("image_path", LEAVING)
def test_a_path_leaving_the_folder_is_refused_at_enqueue(memory_runtime: Runtime, image_path: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        q.add_job(JobType.EMOTION_ANALYSIS, payload(image_path))
    assert caught.value.errors == [("image_path", IMAGE_PATH_RULE)]
    assert q.list_jobs("emotion-analysis").total == 0


def test_the_cli_and_the_api_refuse_it_naming_the_field(
    cli_env: dict[str, str], tmp_path: Path, redis_runtime: Runtime
) -> None:
    run = run_cli(
        "enqueue", "emotion-analysis", "--payload", json.dumps(payload("../../etc/passwd")), env=cli_env, cwd=tmp_path
    )
    assert one_line_error(run) == f"gemsdash: {UNUSABLE}"
    with live_server(http_settings(admin_token=TOKEN)) as api:
        response = api.post("/queue/jobs/emotion-analysis", json={"payload": payload("/etc/shadow")}, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [{"field": "image_path", "message": IMAGE_PATH_RULE}]
    assert "shadow" not in response.text
    assert q.list_jobs("emotion-analysis").total == 0


UNUSABLE_AT_RUN_TIME = [
    *LEAVING[:3],
    "outside.png",  # a symlink to a file outside
    "linked/secret.png",  # through a symlinked directory
    "inside-link.png",  # a symlink, even to an image inside
    "pipe.png",  # a FIFO: must not block the worker thread
    "uploads",  # a directory
    "missing.png",
    "notes.png",  # not an image
]


def test_every_unusable_path_fails_the_same_way_at_run_time(memory_runtime: Runtime, folder: Path) -> None:
    """Sent straight to the actor (as a hand-pushed message would be), past enqueue's check."""
    try:
        emotion = actor_of(JobType.EMOTION_ANALYSIS)
        ids = {path: emotion.send(payload(path)).message_id for path in UNUSABLE_AT_RUN_TIME}
        # Four FIFO jobs at once: none may hold a worker thread.
        ids |= {f"pipe.png #{n}": emotion.send(payload("pipe.png")).message_id for n in range(4)}
        errors = {path: finished(job_id, timeout=30) for path, job_id in ids.items()}
    finally:
        _release_fifo_readers(folder / "pipe.png")
    for path, record in errors.items():
        assert record.state is JobState.DEAD and record.attempts == 1, (path, record)
        assert record.error is not None and record.error.message == UNUSABLE, (path, record.error)
    good = finished(q.analyze_emotion(user_id="u1", image_path="uploads/sunny.png"))
    assert good.state is JobState.SUCCEEDED, good.error
    assert good.result["image"]["path"] == str(folder.resolve() / "uploads" / "sunny.png")
    assert good.result["dominant_emotion"] == "joy"


def test_the_images_folder_can_be_its_own(memory_runtime: Runtime, folder: Path, tmp_path: Path) -> None:
    own = tmp_path / "images"
    own.mkdir()
    Image.new("RGB", (32, 32), (90, 150, 230)).save(own / "sky.png")
    settings: ActorSettings = load_actor_settings(_env_file=None, data_dir=folder, images_dir=own)
    use_settings(settings)
    sky = finished(q.analyze_emotion(user_id="u1", image_path="sky.png"))
    assert sky.state is JobState.SUCCEEDED and sky.result["image"]["cool_share"] > 0.9
    in_data_dir = finished(q.analyze_emotion(user_id="u1", image_path="uploads/sunny.png"))
    assert in_data_dir.state is JobState.DEAD and in_data_dir.error is not None
    assert in_data_dir.error.message == UNUSABLE


def _release_fifo_readers(fifo: Path) -> None:
    """Unblock a reader stuck on the FIFO (the code before this fix), so the test ends either way."""
    for _ in range(8):
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return  # no reader left
        os.close(fd)
