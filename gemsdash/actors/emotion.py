"""emotion-analysis: emotions and sentiment of a text, an image, or both."""

from __future__ import annotations

from pathlib import Path

from gemsdash.actors.emotions import LexiconEmotionAnalyzer, dominant, merge, sentiment_label
from gemsdash.actors.images import read_image
from gemsdash.actors.protocols import EmotionAnalyzer, EmotionReading
from gemsdash.actors.settings import implementation
from gemsdash.queue import define_job_type
from gemsdash.queue.payloads import EmotionPayload


def analyzer() -> EmotionAnalyzer:
    impl: EmotionAnalyzer = implementation("emotion_analyzer", LexiconEmotionAnalyzer, EmotionAnalyzer)
    return impl


def analyze_image(impl: EmotionAnalyzer, image_path: str) -> tuple[Path, EmotionReading]:
    """The image is read here, confined to the images folder (by default the data directory, where
    sketches are written, so `sketches/<job id>.png` analyses a sketch job's result). An analyzer
    that takes the bytes gets them; any other gets the path, checked to be a regular file inside
    the folder."""
    path, data = read_image(image_path)
    by_data = getattr(impl, "analyze_image_data", None)
    return path, by_data(data) if callable(by_data) else impl.analyze_image(path)


def reading_json(reading: EmotionReading) -> dict[str, object]:
    return {
        "dominant_emotion": dominant(reading.scores),
        "scores": reading.scores,
        "sentiment": reading.sentiment,
        "sentiment_label": sentiment_label(reading.sentiment),
        **reading.details,
    }


def analyze_emotion(payload: EmotionPayload) -> dict[str, object]:
    """The payload model already guarantees text and/or image_path match analysis_type."""
    impl = analyzer()
    text = impl.analyze_text(payload.text) if payload.text is not None else None
    path, image = analyze_image(impl, payload.image_path) if payload.image_path is not None else (None, None)
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
        result["image"] = {"path": str(path), **reading_json(image)}
    return result


JOB_TYPE = define_job_type(
    "emotion-analysis",
    payload=EmotionPayload,
    handler=analyze_emotion,
    attempts=3,
    backoff={"type": "exponential", "delay": 1000},
    time_limit_ms=30_000,
    example={
        "text": "I am thrilled with how this turned out, thank you!",
        "analysis_type": "text",
        "user_id": "user-42",
    },
    description="score the emotions of a text and/or an image",
)
