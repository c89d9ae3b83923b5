"""emotion-analysis through a real worker: clear sentences and clear images score the expected way,
the same input gives the same result, and bad input fails early or permanently."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

import gemsdash.queue as q
from gemsdash.actors.emotions import GENERIC, lexicon
from gemsdash.actors.settings import ActorSettings
from gemsdash.queue import JobState, Runtime
from tests.actors.waiting import finished

SENTENCES = {
    "joy": "I am so happy and delighted today, what a wonderful gift!",
    "sadness": "I feel sad and hopeless, I keep crying over my loss.",
    "anger": "I am furious, this is outrageous and I hate it.",
    "fear": "I'm terrified and scared of the dark, it is horrifying.",
    "surprise": "Wow, I was totally stunned and amazed!",
}


def analyse(**kwargs: str) -> dict[str, Any]:
    record = finished(q.analyze_emotion(user_id="u1", **kwargs))
    assert record.state is JobState.SUCCEEDED, record.error
    result: dict[str, Any] = record.result  # the job's JSON result
    return result


def test_clear_sentences_point_the_expected_way(any_runtime: Runtime) -> None:
    ids = {emotion: q.analyze_emotion(user_id="u1", text=text) for emotion, text in SENTENCES.items()}
    for emotion, job_id in ids.items():
        record = finished(job_id)
        assert record.state is JobState.SUCCEEDED, record.error
        result = record.result
        assert result["dominant_emotion"] == emotion, (SENTENCES[emotion], result)
        scores = result["scores"]
        assert set(scores) >= {"joy", "sadness", "anger", "fear", "surprise"}
        assert scores[emotion] == max(scores.values()) > 0
    assert finished(ids["joy"]).result["sentiment"] > 0.5
    for emotion in ("sadness", "anger", "fear"):
        assert finished(ids[emotion]).result["sentiment"] < -0.3, emotion


def test_negation_and_neutral_text(memory_runtime: Runtime) -> None:
    negated = analyse(text="I am not happy at all.")
    assert negated["scores"]["joy"] == 0
    assert negated["sentiment"] < 0
    neutral = analyse(text="The meeting is at 3pm in room 4.")
    assert neutral["dominant_emotion"] == "neutral"
    assert neutral["sentiment_label"] == "neutral"
    assert set(neutral["scores"].values()) == {0.0}


def test_same_input_same_result(any_runtime: Runtime) -> None:
    text = "What a lovely surprise, but I am a little nervous too."
    first, second = (finished(q.analyze_emotion(user_id="u1", text=text)) for _ in range(2))
    assert first.state is second.state is JobState.SUCCEEDED
    assert first.result == second.result


def solid(path: Path, colour: tuple[int, int, int]) -> Path:
    Image.new("RGB", (320, 240), colour).save(path)
    return path


def images(config: ActorSettings) -> Path:
    """The images folder: the data directory, unless GEMSDASH_IMAGES_DIR says otherwise."""
    folder = config.data_dir
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_image_mood_from_colour_and_brightness(any_runtime: Runtime, actor_config: ActorSettings) -> None:
    folder = images(actor_config)
    solid(folder / "sunny.png", (250, 215, 40))
    solid(folder / "gloomy.jpg", (40, 45, 70))
    solid(folder / "red.png", (210, 20, 20))
    sunny = analyse(analysis_type="image", image_path="sunny.png")
    gloomy = analyse(analysis_type="image", image_path="gloomy.jpg")
    red = analyse(analysis_type="image", image_path="red.png")
    assert sunny["dominant_emotion"] == "joy"
    assert sunny["sentiment"] > 0.5
    assert sunny["image"]["mood"] == "bright, vivid, warm"
    assert gloomy["dominant_emotion"] == "sadness"
    assert gloomy["sentiment"] < 0
    assert gloomy["image"]["brightness"] < 0.35
    assert red["dominant_emotion"] == "anger"


def test_relative_image_path_is_read_from_the_data_dir(memory_runtime: Runtime, actor_config: ActorSettings) -> None:
    folder = actor_config.data_dir / "uploads"
    folder.mkdir(parents=True)
    solid(folder / "sky.png", (90, 150, 230))
    result = analyse(analysis_type="image", image_path="uploads/sky.png")
    assert result["image"]["path"] == str((folder / "sky.png").resolve())
    assert result["image"]["cool_share"] > 0.9


def test_combined_merges_text_and_image(any_runtime: Runtime, actor_config: ActorSettings) -> None:
    picture = Image.new("RGB", (200, 200), (10, 10, 20))
    ImageDraw.Draw(picture).ellipse((80, 80, 120, 120), fill=(240, 240, 240))
    picture.save(images(actor_config) / "dark.png")
    text = SENTENCES["fear"]
    combined = analyse(analysis_type="combined", text=text, image_path="dark.png")
    text_only = analyse(text=text)
    image_only = analyse(analysis_type="image", image_path="dark.png")
    assert combined["dominant_emotion"] == "fear"
    assert combined["text"]["scores"] == text_only["scores"]
    assert combined["image"]["scores"] == image_only["scores"]
    for emotion, score in combined["scores"].items():
        low, high = sorted((text_only["scores"][emotion], image_only["scores"][emotion]))
        assert low - 1e-4 <= score <= high + 1e-4
    assert combined["sentiment"] < 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"analysis_type": "text"}, "text"),
        ({"analysis_type": "image", "text": "hello", "image_path": "x.png"}, "text"),
        ({"analysis_type": "image"}, "image_path"),
        ({"analysis_type": "combined", "text": "hello"}, "image_path"),
        ({"analysis_type": "text", "text": "hi", "image_path": "x.png"}, "image_path"),
        ({"analysis_type": "audio", "text": "hi"}, "analysis_type"),
    ],
)
def test_analysis_type_and_fields_must_agree(memory_runtime: Runtime, payload: dict[str, str], field: str) -> None:
    with pytest.raises(q.InvalidPayload) as caught:
        q.add_job("emotion-analysis", {"user_id": "u1", **payload})
    assert field in str(caught.value)
    assert q.list_jobs("emotion-analysis").total == 0


def test_lexicon_ships_with_the_package_and_covers_every_emotion() -> None:
    words = lexicon()
    for emotion in ("joy", "sadness", "anger", "fear", "surprise"):
        assert sum(emotion in emotions for emotions in words.values()) >= 50, emotion
    assert not GENERIC & words.keys()
