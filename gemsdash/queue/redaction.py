"""Keeping secrets out of everything gemsdash shows or stores as text.

Two kinds: configured secrets (Redis and SMTP passwords), replaced wherever they appear in error
messages and tracebacks; and sensitive payload fields (password, token, card, ...), masked by key
name whenever a payload is shown by the CLI, the TUI or the HTTP API.
"""

from __future__ import annotations

import re
from typing import Any

from gemsdash.queue.payloads import redact_card_numbers

MASK = "***"
SENSITIVE_KEY = re.compile(r"pass(word|wd)?|token|secret|authori[sz]ation|api[_-]?key|card|cvv|cvc", re.I)


_registered: set[str] = set()


def register_secret(*secrets: str) -> None:
    """Mask these everywhere in this process from now on, whichever runtime is configured
    (job code registers its own secrets, e.g. the SMTP password, when it reads its settings)."""
    _registered.update(s for s in secrets if s and len(s) >= 3)


class Redactor:
    def __init__(self, secrets: list[str] | None = None) -> None:
        self._own = {s for s in (secrets or []) if s and len(s) >= 3}

    @property
    def secrets(self) -> list[str]:
        return sorted(self._own | _registered, key=len, reverse=True)

    def add(self, *secrets: str) -> None:
        self._own.update(s for s in secrets if s and len(s) >= 3)

    def text(self, value: str) -> str:
        """`value` with every known secret masked and any raw card number blanked."""
        for secret in self.secrets:
            value = value.replace(secret, MASK)
        return redact_card_numbers(value)


def mask_payload(value: Any) -> Any:
    """A copy of `value` with the values of sensitive-looking keys replaced by `***`."""
    if isinstance(value, dict):
        return {k: MASK if SENSITIVE_KEY.search(str(k)) else mask_payload(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_payload(v) for v in value]
    if isinstance(value, tuple):
        return tuple(mask_payload(v) for v in value)
    return value
