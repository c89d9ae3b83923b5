"""sketch-generation through a real worker: the PNG exists, has the promised size, and is the same
for the same request."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PIL import Image

import gemsdash.queue as q
from gemsdash.actors.settings import ActorSettings
from gemsdash.queue import JobState, Runtime
from tests.actors.waiting import finished


@pytest.mark.parametrize(("quality", "size"), [("low", 256), ("medium", 512), ("high", 1024)])
def test_sketch_png_has_the_promised_size(
    any_runtime: Runtime, actor_config: ActorSettings, quality: str, size: int
) -> None:
    job_id = q.queue_sketch_generation("a lighthouse on a cliff at night", user_id="u1", quality=quality)
    record = finished(job_id)
    assert record.state is JobState.SUCCEEDED, record.error
    result = record.result
    path = Path(result["path"])
    assert path.is_file()
    assert path.is_relative_to(actor_config.data_dir.resolve())
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (size, size)
        assert len(image.getcolors(maxcolors=1_000_000) or []) > 2, "a blank canvas is not a sketch"
    assert (result["width"], result["height"]) == (size, size)
    assert result["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_identical_requests_give_identical_pngs_and_others_differ(any_runtime: Runtime) -> None:
    ids = [
        q.queue_sketch_generation("a cat in a garden", user_id="u1", style="watercolor", quality="low"),
        q.queue_sketch_generation("a cat in a garden", user_id="u2", style="watercolor", quality="low"),
        q.queue_sketch_generation("a dog in a garden", user_id="u1", style="watercolor", quality="low"),
        q.queue_sketch_generation("a cat in a garden", user_id="u1", style="cartoon", quality="low"),
    ]
    records = [finished(i) for i in ids]
    assert all(r.state is JobState.SUCCEEDED for r in records), [r.error for r in records]
    same, also_same, other_prompt, other_style = (Path(r.result["path"]).read_bytes() for r in records)
    assert same == also_same
    assert records[0].result["path"] != records[1].result["path"]
    assert other_prompt != same
    assert other_style != same


@pytest.mark.parametrize("style", ["realistic", "cartoon", "watercolor", "line-art"])
def test_every_style_renders(memory_runtime: Runtime, style: str) -> None:
    record = finished(q.queue_sketch_generation("mountains and a river", user_id="u1", style=style, quality="low"))
    assert record.state is JobState.SUCCEEDED, record.error
    with Image.open(record.result["path"]) as image:
        image.load()


@pytest.mark.parametrize("prompt", ["", "   ", "x" * 501])
def test_empty_blank_or_overlong_prompt_is_refused_at_enqueue(memory_runtime: Runtime, prompt: str) -> None:
    with pytest.raises(q.InvalidPayload) as caught:
        q.queue_sketch_generation(prompt, user_id="u1")
    assert "prompt" in str(caught.value)
    assert q.list_jobs("sketch-generation").total == 0
