"""What a deployment may replace: one small protocol per job type, with the value types it trades in.

The built-in implementations (a procedural sketcher, a lexicon analyser, SMTP or an outbox folder, a
sandbox gateway) are the defaults; `GEMSDASH_<TYPE>=module:factory` picks another (see
`settings.plugin`). The job modules only ever talk to these protocols, so swapping in an AI image
service or a real payment provider touches no job code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol, runtime_checkable

from gemsdash.queue import PermanentJobError
from gemsdash.queue.payloads import PaymentPayload, SketchQuality, SketchStyle

#: The emotions every analyser scores; other keys may be added but these five are always present.
EMOTIONS: tuple[str, ...] = ("joy", "sadness", "anger", "fear", "surprise")


@dataclass(frozen=True)
class Sketch:
    png: bytes
    width: int
    height: int


@runtime_checkable
class SketchGenerator(Protocol):
    def generate(self, prompt: str, style: SketchStyle, quality: SketchQuality) -> Sketch:
        """A PNG for the prompt; the same arguments must give the same bytes."""
        ...


@dataclass(frozen=True)
class EmotionReading:
    #: Emotion -> share of the evidence, each in [0, 1]; all zero when nothing was found.
    scores: dict[str, float]
    #: -1 (negative) .. +1 (positive).
    sentiment: float
    details: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class EmotionAnalyzer(Protocol):
    def analyze_text(self, text: str) -> EmotionReading: ...

    def analyze_image(self, path: Path) -> EmotionReading:
        """Raise PermanentJobError when the file is missing or not an image."""
        ...


class TransientDeliveryError(Exception):
    """The mail server could not take the message now (4xx, connection lost): try again later."""


@runtime_checkable
class EmailSender(Protocol):
    def send(self, message: EmailMessage) -> str:
        """Deliver `message`; returns where it went. Returning means the message was accepted.

        Raise TransientDeliveryError to be retried and PermanentJobError when retrying cannot help.
        """
        ...


class PaymentDeclined(PermanentJobError):
    """The gateway refused the operation for good (declined card, refund above the captured amount)."""


class GatewayUnavailable(Exception):
    """The gateway did not answer or asked to try again: retried with backoff."""


@runtime_checkable
class PaymentGateway(Protocol):
    """Every operation is idempotent on `request.idempotency_key`: repeating a request returns the
    first outcome (with `"replayed": true`) and moves no money again."""

    def capture(self, request: PaymentPayload) -> dict[str, object]: ...

    def refund(self, request: PaymentPayload) -> dict[str, object]: ...

    def verify(self, request: PaymentPayload) -> dict[str, object]: ...
