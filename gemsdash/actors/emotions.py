"""The built-in EmotionAnalyzer: a word lexicon for text, colour statistics for images.

Text emotions come from the category lexicon that ships inside the `empath` package (MIT licence;
Fast et al., CHI 2016), several of its categories pooled per emotion because Empath splits, say,
anger into `anger`, `rage`, `hate`... Sentiment comes from VADER (`vaderSentiment`, MIT), which
handles negation and intensifiers better than a word count. Both load from the installed packages:
nothing is downloaded at run time. Image mood is measured, not guessed: brightness, saturation,
contrast and the warm/cool balance of the hues, mapped to the same five emotions.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from empath import Empath  # type: ignore[import-untyped]
from PIL import Image, ImageStat, UnidentifiedImageError
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from gemsdash.actors.images import unusable_image
from gemsdash.actors.protocols import EMOTIONS, EmotionReading

logger = logging.getLogger(__name__)

#: Empath categories pooled into each emotion.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "joy": ("joy", "cheerfulness", "optimism", "celebration", "contentment", "affection", "love", "positive_emotion"),
    "sadness": ("sadness", "suffering", "disappointment", "neglect"),
    "anger": ("anger", "rage", "hate", "aggression", "irritability", "exasperation"),
    "fear": ("fear", "nervousness", "horror", "timidity"),
    "surprise": ("surprise",),
}
NEGATORS = frozenset(
    [
        "not",
        "no",
        "never",
        "nor",
        "none",
        "nobody",
        "nothing",
        "without",
        "hardly",
        "barely",
        "cannot",
        "dont",
        "don't",
        "doesn't",
        "didn't",
        "isn't",
        "wasn't",
        "aren't",
        "weren't",
        "won't",
        "wouldn't",
        "can't",
        "couldn't",
        "shouldn't",
        "ain't",
    ]
)
#: Words Empath files under emotions that name feelings in general, or no feeling at all; counting
#: them made "I feel sad" partly joyful.
GENERIC = frozenset(
    [
        "feel",
        "feels",
        "felt",
        "feeling",
        "feelings",
        "emotion",
        "emotions",
        "emotional",
        "keep",
        "reason",
        "family",
        "friend",
        "concern",
        "expression",
        "reaction",
        "care",
        "wish",
        "better",
        "understanding",
    ]
)
NEGATION_WINDOW = 3
SUFFIXES = ("ing", "ed", "es", "s", "ly", "ness", "ful")
TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")
#: Pixels looked at: statistics of a 256 px thumbnail equal those of the full image to 2 decimals.
THUMBNAIL = (256, 256)


@cache
def lexicon() -> dict[str, frozenset[str]]:
    """word -> emotions it signals, built once from the installed Empath data."""
    categories = Empath().cats
    words: dict[str, set[str]] = {}
    for emotion, names in CATEGORIES.items():
        for name in names:
            for word in categories.get(name, ()):
                words.setdefault(word, set()).add(emotion)
    return {word: frozenset(emotions) for word, emotions in words.items() if word not in GENERIC}


_vader_lock = threading.Lock()


@cache
def _vader() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def lookup(token: str, words: dict[str, frozenset[str]]) -> frozenset[str]:
    """The emotions of a word or, failing that, of its stem (`crying` -> `cry`, `tears` -> `tear`)."""
    if token in words:
        return words[token]
    for suffix in SUFFIXES:
        if token.endswith(suffix) and len(token) - len(suffix) >= 3:
            stem = token[: -len(suffix)]
            for candidate in (stem, stem + "e", stem[:-1] if stem[-1:] == stem[-2:-1] else stem):
                if candidate in words:
                    return words[candidate]
    return frozenset()


def sentiment_label(score: float) -> str:
    """VADER's own thresholds."""
    return "positive" if score >= 0.05 else "negative" if score <= -0.05 else "neutral"


def dominant(scores: dict[str, float]) -> str:
    best = max(EMOTIONS, key=lambda e: scores.get(e, 0.0))
    return best if scores.get(best, 0.0) > 0 else "neutral"


def shares(raw: dict[str, float]) -> dict[str, float]:
    total = sum(raw.values())
    return {e: round(raw.get(e, 0.0) / total, 4) if total else 0.0 for e in EMOTIONS}


class LexiconEmotionAnalyzer:
    def analyze_text(self, text: str) -> EmotionReading:
        words = lexicon()
        tokens = TOKEN.findall(text.lower())
        raw = dict.fromkeys(EMOTIONS, 0.0)
        matched: dict[str, list[str]] = {e: [] for e in EMOTIONS}
        negated: list[str] = []
        for index, token in enumerate(tokens):
            emotions = lookup(token, words)
            if not emotions:
                continue
            if any(t in NEGATORS for t in tokens[max(0, index - NEGATION_WINDOW) : index]):
                negated.append(token)  # "not happy" is not evidence of joy (nor, reliably, of sadness)
                continue
            for emotion in emotions:
                raw[emotion] += 1 / len(emotions)
                if token not in matched[emotion]:
                    matched[emotion].append(token)
        with _vader_lock:
            polarity = _vader().polarity_scores(text)
        return EmotionReading(
            scores=shares(raw),
            sentiment=round(float(polarity["compound"]), 4),
            details={
                "tokens": len(tokens),
                "matched": {e: m[:20] for e, m in matched.items() if m},
                "negated": negated[:20],
                "vader": {k: round(float(polarity[k]), 4) for k in ("pos", "neu", "neg")},
                "lexicon": "empath",
            },
        )

    def analyze_image(self, path: Path) -> EmotionReading:
        return self.analyze_image_data(path)

    def analyze_image_data(self, data: Path | bytes) -> EmotionReading:
        """`analyze_image` for a file already read: the job reads it once, confined to the images
        folder, and this never opens a path of its own."""
        st = measure(data)
        b, s, c = st.brightness, st.saturation, st.contrast
        sunny = max(st.warm_share - st.red_share, 0.0)  # yellows and oranges; red reads as anger
        raw = {
            "joy": b * (0.4 + 0.6 * s) * (0.3 + 0.7 * sunny),
            "sadness": (1 - b) * (1 - 0.7 * s) * (0.4 + 0.6 * st.cool_share),
            "anger": s * st.red_share * (1 + c),
            "fear": (1 - b) ** 2 * (0.3 + 0.7 * c),
            "surprise": s * c * b,
        }
        sentiment = max(-1.0, min(1.0, 1.6 * (b - 0.5) + 0.6 * s * (sunny - st.cool_share) - 0.4 * s * st.red_share))
        return EmotionReading(
            scores=shares(raw), sentiment=round(sentiment, 4), details={**asdict(st), "mood": st.mood}
        )


@dataclass(frozen=True)
class ImageStats:
    """Measured over a thumbnail; shares are fractions of all pixels (only vivid pixels have a hue)."""

    brightness: float
    saturation: float
    contrast: float
    warm_share: float
    cool_share: float
    red_share: float
    mean_color: str
    width: int
    height: int

    @property
    def mood(self) -> str:
        """A short human label, e.g. 'bright, vivid, warm'."""
        light = "bright" if self.brightness >= 0.6 else "dark" if self.brightness < 0.35 else "mid-tone"
        s = self.saturation
        colour = "vivid" if s >= 0.45 else "muted" if s < 0.2 else "moderately saturated"
        diff = self.warm_share - self.cool_share
        tone = "warm" if diff > 0.1 else "cool" if diff < -0.1 else "neutral"
        return f"{light}, {colour}, {tone}"


def open_rgb(source: Path | bytes) -> Image.Image:
    """The image as RGB, from a file's bytes already read (see `images.read_image`) or a path; an
    unusable one is a PermanentJobError (retrying cannot help), with the one text that tells
    nothing about which files exist."""
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as opened:
            opened.draft("RGB", THUMBNAIL)
            return opened.convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        logger.info("image refused: %s: %s", type(exc).__name__, exc)
        raise unusable_image() from None


def measure(source: Path | bytes) -> ImageStats:
    image = open_rgb(source)
    image.thumbnail(THUMBNAIL, Image.Resampling.BILINEAR)
    hue, sat, val = image.convert("HSV").split()
    pixels = image.width * image.height
    hues = hue.histogram(mask=sat.point(lambda v: 255 if v >= 64 else 0))  # hue 0..255 for 0..360 degrees

    def share(*ranges: tuple[int, int]) -> float:
        count = sum(sum(hues[round(lo / 360 * 256) : round(hi / 360 * 256)]) for lo, hi in ranges)
        return round(count / pixels, 4)

    mean_rgb = ImageStat.Stat(image).mean
    return ImageStats(
        brightness=round(ImageStat.Stat(val).mean[0] / 255, 4),
        saturation=round(ImageStat.Stat(sat).mean[0] / 255, 4),
        contrast=round(min(ImageStat.Stat(image.convert("L")).stddev[0] / 128, 1.0), 4),
        warm_share=share((0, 70), (320, 360)),
        cool_share=share((170, 280)),
        red_share=share((0, 20), (340, 360)),
        mean_color="#" + "".join(f"{round(v):02x}" for v in mean_rgb[:3]),
        width=image.width,
        height=image.height,
    )


def merge(text: EmotionReading, image: EmotionReading, text_weight: float = 0.6) -> tuple[dict[str, float], float]:
    """Combined scores and sentiment; a side that found no emotion at all does not dilute the other."""
    text_found = any(text.scores.values())
    image_found = any(image.scores.values())
    weight = text_weight if text_found and image_found else 1.0 if text_found else 0.0 if image_found else 0.5
    scores = {e: round(weight * text.scores.get(e, 0.0) + (1 - weight) * image.scores.get(e, 0.0), 4) for e in EMOTIONS}
    sentiment = round(text_weight * text.sentiment + (1 - text_weight) * image.sentiment, 4)
    return scores, sentiment
