"""emotion-analysis: emotions and sentiment of a text, an image, or both."""

from __future__ import annotations

from pathlib import Path

from gemsdash.actors.emotions import LexiconEmotionAnalyzer, dominant, merge, sentiment_label
from gemsdash.actors.protocols import EmotionAnalyzer, EmotionReading
from gemsdash.actors.settings import actor_settings, implementation
from gemsdash.queue import JobType, job_actor
from gemsdash.queue.payloads import EmotionPayload


def analyzer() -> EmotionAnalyzer:
    impl: EmotionAnalyzer = implementation("emotion_analyzer", LexiconEmotionAnalyzer, EmotionAnalyzer)
    return impl


def image_location(image_path: str) -> Path:
    """Relative paths are read from the data directory, where sketches are written, so a sketch
    job's result can be analysed by the path it returned or by `sketches/<job id>.png`."""
    path = Path(image_path).expanduser()
    return path if path.is_absolute() else actor_settings().data_dir.expanduser().resolve() / path


def reading_json(reading: EmotionReading) -> dict[str, object]:
    return {
        "dominant_emotion": dominant(reading.scores),
        "scores": reading.scores,
        "sentiment": reading.sentiment,
        "sentiment_label": sentiment_label(reading.sentiment),
        **reading.details,
    }


@job_actor(JobType.EMOTION_ANALYSIS)
def analyze_emotion(payload: EmotionPayload) -> dict[str, object]:
    """The payload model already guarantees text and/or image_path match analysis_type."""
    impl = analyzer()
    text = impl.analyze_text(payload.text) if payload.text is not None else None
    image = impl.analyze_image(image_location(payload.image_path)) if payload.image_path is not None else None
    if text is not None and image is not None:
        scores, sentiment = merge(text, image)
    else:
        (only,) = [r for r in (text, image) if r is not None]
        scores, sentiment = only.scores, only.sentiment
    result: dict[str, object] = {
        "analysis_type": payload.analysis_type,
        "dominant_emotion": dominant(scores),
        "scores": scores,
        "sentiment": sentiment,
        "sentiment_label": sentiment_label(sentiment),
    }
    if text is not None:
        result["text"] = reading_json(text)
    if image is not None:
        result["image"] = {"path": str(image_location(payload.image_path or "")), **reading_json(image)}
    return result
