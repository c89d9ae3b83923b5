"""The built-in SketchGenerator: a procedural, hand-drawn-looking scene rendered with Pillow.

Everything random is drawn from one generator seeded by a hash of (style, quality, prompt), so the
same request always gives the same PNG bytes, which lets tests and caches compare by sha256. Words of
the prompt pick the motifs (a "house by the sea" gets a house and waves); unknown words still pick a
motif through their hash, so every prompt gives a distinct picture.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
import re
from collections.abc import Callable, Sequence

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from gemsdash.actors.protocols import Sketch
from gemsdash.queue.payloads import SketchQuality, SketchStyle

SIZES: dict[str, int] = {"low": 256, "medium": 512, "high": 1024}
DETAIL: dict[str, int] = {"low": 1, "medium": 2, "high": 3}
#: Drawn this many times larger, then scaled down: antialiased lines at no extra dependency.
SUPERSAMPLE = 2

RGB = tuple[int, int, int]
Point = tuple[float, float]

PAPER: dict[str, RGB] = {
    "line-art": (255, 255, 255),
    "realistic": (244, 241, 234),
    "cartoon": (250, 250, 245),
    "watercolor": (250, 247, 240),
}
INK: dict[str, RGB] = {
    "line-art": (20, 20, 20),
    "realistic": (55, 55, 60),
    "cartoon": (15, 15, 15),
    "watercolor": (90, 75, 65),
}
PEN_WIDTH: dict[str, float] = {"line-art": 0.35, "realistic": 0.25, "cartoon": 0.8, "watercolor": 0.25}

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "in",
        "on",
        "at",
        "by",
        "to",
        "with",
        "under",
        "over",
        "from",
        "into",
        "near",
        "for",
        "is",
        "are",
        "was",
        "be",
        "my",
        "our",
        "your",
        "its",
        "this",
        "that",
        "these",
        "those",
        "very",
        "some",
    ]
)
KEYWORDS: dict[str, tuple[str, ...]] = {
    "tree": ("tree", "trees", "forest", "wood", "woods", "oak", "pine", "palm", "jungle"),
    "house": ("house", "home", "cabin", "castle", "building", "city", "village", "tower", "church"),
    "mountain": ("mountain", "mountains", "hill", "hills", "peak", "volcano", "alps", "cliff"),
    "flower": ("flower", "flowers", "rose", "garden", "tulip", "daisy", "meadow", "bloom"),
    "star": ("star", "stars", "night", "galaxy", "space", "sparkle"),
    "cloud": ("cloud", "clouds", "rain", "storm", "sky", "weather", "fog"),
    "bird": ("bird", "birds", "eagle", "crow", "owl", "gull", "dove", "flying"),
    "wave": ("sea", "ocean", "wave", "waves", "river", "lake", "water", "beach", "shore"),
    "boat": ("boat", "ship", "sail", "sailing", "yacht", "harbor", "harbour"),
    "person": ("person", "man", "woman", "girl", "boy", "child", "people", "friend", "friends", "portrait"),
}
MOTIF_OF_WORD = {word: motif for motif, words in KEYWORDS.items() for word in words}
NIGHT_WORDS = frozenset({"moon", "night", "midnight", "stars", "star", "dark"})
SUN_WORDS = frozenset({"sun", "sunny", "sunset", "sunrise", "summer", "morning", "day"})
#: Drawn as the sky's sun or moon rather than as a motif on the ground.
SKY_BODIES = frozenset({"sun", "sunset", "sunrise", "moon"})


def words_of(prompt: str) -> list[str]:
    return [w for w in re.findall(r"[a-z]+", prompt.lower()) if w not in STOPWORDS]


def seed_of(prompt: str, style: str, quality: str) -> int:
    digest = hashlib.sha256(f"{style}\0{quality}\0{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Canvas:
    """Coordinates are in percent of the side (0..100), so a motif looks the same at every size."""

    def __init__(self, size: int, style: str, rng: random.Random) -> None:
        self.px = size * SUPERSAMPLE
        self.style = style
        self.rng = rng
        self.ink = INK[style]
        self.pen = PEN_WIDTH[style]
        self.image = Image.new("RGB", (self.px, self.px), PAPER[style])
        self.draw = ImageDraw.Draw(self.image)
        # Watercolour washes go on their own layer, blurred and multiplied in at the end.
        self.wash = Image.new("RGB", (self.px, self.px), (255, 255, 255))
        self.wash_draw = ImageDraw.Draw(self.wash)

    def xy(self, p: Point) -> tuple[float, float]:
        return (p[0] * self.px / 100, p[1] * self.px / 100)

    def jitter(self, points: Sequence[Point], amount: float = 0.25) -> list[tuple[float, float]]:
        """A hand-drawn wobble: each point moved a little, the same way for the same seed."""
        return [
            self.xy((x + self.rng.uniform(-amount, amount), y + self.rng.uniform(-amount, amount))) for x, y in points
        ]

    def stroke(self, points: Sequence[Point], width: float = 1.0, color: RGB | None = None) -> None:
        if len(points) < 2:
            return
        w = max(1, round(self.pen * width * self.px / 100))
        passes = 2 if self.style in ("line-art", "realistic") else 1
        for _ in range(passes):
            self.draw.line(self.jitter(points), fill=color or self.ink, width=w, joint="curve")

    def shape(self, points: Sequence[Point], fill: RGB, width: float = 1.0) -> None:
        """A closed outline, filled the way the style fills (flat, washed, or not at all)."""
        outline = [*points, points[0]]
        if self.style == "cartoon":
            self.draw.polygon([self.xy(p) for p in points], fill=fill)
        elif self.style == "watercolor":
            self.wash_draw.polygon(self.jitter(points, 1.2), fill=fill)
        elif self.style == "realistic":
            self.hatch(points, spacing=1.6)
        self.stroke(outline, width)

    def hatch(self, points: Sequence[Point], spacing: float) -> None:
        """Diagonal pencil hatching clipped to the polygon: shading for the realistic style."""
        corners = [self.xy(p) for p in points]
        left = max(0, int(min(x for x, _ in corners)))
        top = max(0, int(min(y for _, y in corners)))
        right = min(self.px, int(max(x for x, _ in corners)) + 1)
        bottom = min(self.px, int(max(y for _, y in corners)) + 1)
        if right <= left or bottom <= top:
            return
        box = (right - left, bottom - top)
        mask = Image.new("L", box, 0)
        ImageDraw.Draw(mask).polygon([(x - left, y - top) for x, y in corners], fill=255)
        layer = Image.new("RGB", box, (255, 255, 255))
        hatch_draw = ImageDraw.Draw(layer)
        width = max(1, round(0.12 * self.px / 100))
        step = spacing * self.px / 100
        offset = -float(box[1])
        while offset < box[0]:
            hatch_draw.line([(offset, box[1]), (offset + box[1], 0)], fill=(150, 150, 155), width=width)
            offset += step * self.rng.uniform(0.8, 1.2)
        region = self.image.crop((left, top, right, bottom))
        self.image.paste(ImageChops.darker(region, layer), (left, top), mask)

    def finish(self, size: int) -> Image.Image:
        image = self.image
        if self.style == "watercolor":
            soft = self.wash.filter(ImageFilter.GaussianBlur(radius=self.px / 120))
            image = ImageChops.multiply(image, soft)
        return image.resize((size, size), Image.Resampling.LANCZOS)


def circle(c: Point, r: float, steps: int = 24) -> list[Point]:
    return [
        (c[0] + r * math.cos(2 * math.pi * i / steps), c[1] + r * math.sin(2 * math.pi * i / steps))
        for i in range(steps)
    ]


def draw_tree(cv: Canvas, x: float, ground: float, h: float) -> None:
    cv.shape(
        [
            (x - h * 0.06, ground),
            (x - h * 0.04, ground - h * 0.5),
            (x + h * 0.04, ground - h * 0.5),
            (x + h * 0.06, ground),
        ],
        (140, 100, 60),
    )
    cv.shape(circle((x, ground - h * 0.72), h * 0.28, 18), (90, 160, 80))


def draw_house(cv: Canvas, x: float, ground: float, h: float) -> None:
    w = h * 0.7
    cv.shape(
        [(x - w / 2, ground), (x - w / 2, ground - h * 0.5), (x + w / 2, ground - h * 0.5), (x + w / 2, ground)],
        (230, 200, 150),
    )
    cv.shape([(x - w * 0.6, ground - h * 0.5), (x, ground - h), (x + w * 0.6, ground - h * 0.5)], (190, 70, 60))
    cv.shape(
        [
            (x - w * 0.1, ground),
            (x - w * 0.1, ground - h * 0.28),
            (x + w * 0.1, ground - h * 0.28),
            (x + w * 0.1, ground),
        ],
        (120, 80, 50),
    )


def draw_mountain(cv: Canvas, x: float, ground: float, h: float) -> None:
    cv.shape([(x - h * 0.8, ground), (x, ground - h * 1.3), (x + h * 0.8, ground)], (150, 150, 170))
    cv.stroke([(x - h * 0.25, ground - h * 0.9), (x, ground - h * 1.3), (x + h * 0.25, ground - h * 0.9)], 1.5)


def draw_flower(cv: Canvas, x: float, ground: float, h: float) -> None:
    top = (x, ground - h * 0.6)
    cv.stroke([(x, ground), top], 1.2, (60, 120, 60))
    for i in range(6):
        angle = i * math.pi / 3
        centre = (top[0] + h * 0.12 * math.cos(angle), top[1] + h * 0.12 * math.sin(angle))
        cv.shape(circle(centre, h * 0.08, 10), (230, 120, 160))
    cv.shape(circle(top, h * 0.07, 10), (240, 200, 60))


def draw_star(cv: Canvas, x: float, ground: float, h: float) -> None:
    c = (x, max(8.0, ground - h * 2.2))
    points = [
        (
            c[0] + (h * 0.25 if i % 2 == 0 else h * 0.1) * math.cos(math.pi / 2 + i * math.pi / 5),
            c[1] - (h * 0.25 if i % 2 == 0 else h * 0.1) * math.sin(math.pi / 2 + i * math.pi / 5),
        )
        for i in range(10)
    ]
    cv.shape(points, (250, 220, 90))


def draw_cloud(cv: Canvas, x: float, ground: float, h: float) -> None:
    y = max(10.0, ground - h * 2.0)
    for dx, r in ((-h * 0.3, h * 0.2), (0.0, h * 0.28), (h * 0.3, h * 0.2)):
        cv.shape(circle((x + dx, y), r, 16), (200, 210, 230))


def draw_bird(cv: Canvas, x: float, ground: float, h: float) -> None:
    y = max(8.0, ground - h * 1.8)
    w = h * 0.3
    cv.stroke(
        [(x - w, y - w * 0.3), (x - w * 0.5, y - w * 0.5), (x, y), (x + w * 0.5, y - w * 0.5), (x + w, y - w * 0.3)],
        1.2,
    )


def draw_wave(cv: Canvas, x: float, ground: float, h: float) -> None:
    for row in range(3):
        y = ground + 3 + row * 3
        cv.stroke([(x - h + i * h / 8, y + math.sin(i * math.pi / 2) * 0.8) for i in range(17)], 0.9, (60, 100, 170))


def draw_boat(cv: Canvas, x: float, ground: float, h: float) -> None:
    w = h * 0.6
    cv.shape(
        [(x - w, ground - h * 0.15), (x + w, ground - h * 0.15), (x + w * 0.7, ground), (x - w * 0.7, ground)],
        (150, 90, 60),
    )
    cv.shape([(x, ground - h * 0.15), (x, ground - h * 0.9), (x + w * 0.6, ground - h * 0.2)], (240, 240, 240))


def draw_person(cv: Canvas, x: float, ground: float, h: float) -> None:
    cv.shape(circle((x, ground - h * 0.85), h * 0.1, 14), (240, 200, 170))
    cv.stroke([(x, ground - h * 0.75), (x, ground - h * 0.35)], 1.2)
    cv.stroke([(x - h * 0.15, ground), (x, ground - h * 0.35), (x + h * 0.15, ground)], 1.2)
    cv.stroke([(x - h * 0.2, ground - h * 0.5), (x, ground - h * 0.65), (x + h * 0.2, ground - h * 0.5)], 1.2)


def draw_spiral(cv: Canvas, x: float, ground: float, h: float) -> None:
    c = (x, ground - h * 0.6)
    cv.stroke(
        [(c[0] + h * 0.04 * t * math.cos(t), c[1] + h * 0.04 * t * math.sin(t)) for t in (i * 0.3 for i in range(40))]
    )


MOTIFS: dict[str, Callable[[Canvas, float, float, float], None]] = {
    "tree": draw_tree,
    "house": draw_house,
    "mountain": draw_mountain,
    "flower": draw_flower,
    "star": draw_star,
    "cloud": draw_cloud,
    "bird": draw_bird,
    "wave": draw_wave,
    "boat": draw_boat,
    "person": draw_person,
    "spiral": draw_spiral,
}


def motif_for(word: str) -> str:
    if word in MOTIF_OF_WORD:
        return MOTIF_OF_WORD[word]
    names = sorted(MOTIFS)
    return names[int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") % len(names)]


class LineArtSketcher:
    """Quality sets the resolution and the amount of detail (motifs, grass, texture strokes)."""

    def generate(self, prompt: str, style: SketchStyle, quality: SketchQuality) -> Sketch:
        size = SIZES[quality]
        detail = DETAIL[quality]
        rng = random.Random(seed_of(prompt, style, quality))
        cv = Canvas(size, style, rng)
        words = words_of(prompt) or ["sketch"]

        horizon = rng.uniform(58, 70)
        self._sky(cv, set(words), horizon)
        hills = self._hills(cv, horizon, detail)

        motifs = [motif_for(w) for w in words if w not in SKY_BODIES][: 2 + 2 * detail] or ["spiral"]
        slots = len(motifs)
        for index, name in enumerate(motifs):
            x = 100 * (index + 0.5) / slots + rng.uniform(-4, 4)
            ground = hills(x)
            MOTIFS[name](cv, x, ground, rng.uniform(18, 28) / (1 + 0.15 * max(slots - 3, 0)))

        for _ in range(12 * detail * detail):  # grass and texture: where extra resolution shows
            x = rng.uniform(0, 100)
            y = hills(x) + rng.uniform(1, 100 - hills(x))
            cv.stroke([(x, y), (x + rng.uniform(-0.8, 0.8), y - rng.uniform(1, 2.5))], 0.6)

        buffer = io.BytesIO()
        cv.finish(size).save(buffer, format="PNG")
        return Sketch(png=buffer.getvalue(), width=size, height=size)

    def _sky(self, cv: Canvas, words: set[str], horizon: float) -> None:
        night = bool(words & NIGHT_WORDS) and not words & SUN_WORDS
        x = cv.rng.uniform(15, 85)
        y = cv.rng.uniform(10, horizon / 2)
        if night:
            outer = circle((x, y), 7, 28)
            inner = circle((x + 3, y - 1.5), 6, 28)
            cv.shape(outer, (235, 235, 210))
            cv.stroke([*inner[18:], *inner[:10]], 0.8)
        else:
            cv.shape(circle((x, y), 6, 28), (250, 200, 80))
            for i in range(12):
                angle = i * math.pi / 6
                cv.stroke(
                    [
                        (x + 8 * math.cos(angle), y + 8 * math.sin(angle)),
                        (x + 10.5 * math.cos(angle), y + 10.5 * math.sin(angle)),
                    ],
                    0.8,
                )

    def _hills(self, cv: Canvas, horizon: float, detail: int) -> Callable[[float], float]:
        waves = [
            (cv.rng.uniform(1.5, 4.5), cv.rng.uniform(0.02, 0.08), cv.rng.uniform(0, 2 * math.pi))
            for _ in range(1 + detail)
        ]

        def height(x: float) -> float:
            return horizon + sum(a * math.sin(f * x * math.pi + p) for a, f, p in waves)

        line = [(x * 2.0, height(x * 2.0)) for x in range(51)]
        cv.shape([*line, (100, 100), (0, 100)], (170, 200, 140))
        return height
