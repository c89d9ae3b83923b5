"""sketch-generation: render a sketch PNG for a prompt and keep it under the data directory."""

from __future__ import annotations

import hashlib

from gemsdash.actors.files import data_path, write_atomic
from gemsdash.actors.protocols import SketchGenerator
from gemsdash.actors.settings import implementation
from gemsdash.actors.sketcher import LineArtSketcher
from gemsdash.queue import current_job, define_job_type
from gemsdash.queue.payloads import SketchPayload


def generator() -> SketchGenerator:
    impl: SketchGenerator = implementation("sketch_generator", LineArtSketcher, SketchGenerator)
    return impl


def generate_sketch(payload: SketchPayload) -> dict[str, object]:
    """The file is named after the job, so a retry overwrites its own half-done attempt and two
    jobs never share a file even for the same prompt."""
    sketch = generator().generate(payload.prompt, payload.style, payload.quality)
    path = data_path("sketches", f"{current_job().job_id}.png")
    write_atomic(path, sketch.png)
    return {
        "path": str(path),
        "width": sketch.width,
        "height": sketch.height,
        "sha256": hashlib.sha256(sketch.png).hexdigest(),
        "bytes": len(sketch.png),
        "style": payload.style,
        "quality": payload.quality,
    }


JOB_TYPE = define_job_type(
    "sketch-generation",
    payload=SketchPayload,
    handler=generate_sketch,
    attempts=3,
    backoff={"type": "exponential", "delay": 2000},
    time_limit_ms=60_000,
    example={
        "prompt": "a lighthouse on a cliff at dusk",
        "style": "line-art",
        "quality": "medium",
        "user_id": "user-42",
    },
    description="render a line-art sketch PNG from a prompt",
)
