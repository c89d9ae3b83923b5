"""sketch-generation: render a sketch PNG for a prompt and keep it under the data directory."""

from __future__ import annotations

import hashlib

from gemsdash.actors.files import data_path, write_atomic
from gemsdash.actors.protocols import SketchGenerator
from gemsdash.actors.settings import implementation
from gemsdash.actors.sketcher import LineArtSketcher
from gemsdash.queue import JobType, current_job, job_actor
from gemsdash.queue.payloads import SketchPayload


def generator() -> SketchGenerator:
    impl: SketchGenerator = implementation("sketch_generator", LineArtSketcher, SketchGenerator)
    return impl


@job_actor(JobType.SKETCH_GENERATION)
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
