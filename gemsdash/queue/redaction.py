"""Keeping secrets out of everything gemsdash shows or stores as text.

Two kinds: configured secrets (Redis and SMTP passwords), replaced wherever they appear in error
messages and tracebacks; and sensitive payload fields (password, token, card, ...), masked by key
name whenever a payload is shown by the CLI, the TUI or the HTTP API.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
SENSITIVE_KEY = re.compile(r"pass(word|wd)?|token|secret|authori[sz]ation|api[_-]?key|card|cvv|cvc", re.I)


class Redactor:
    def __init__(self, secrets: list[str] | None = None) -> None:
        self.secrets: list[str] = []
        self.add(*(secrets or []))

    def add(self, *secrets: str) -> None:
        """Also mask these (job code registers its own secrets, e.g. the SMTP password)."""
        known = set(self.secrets) | {s for s in secrets if s and len(s) >= 3}
        self.secrets = sorted(known, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, MASK)
        return value


def mask_payload(value: Any) -> Any:
    """A copy of `value` with the values of sensitive-looking keys replaced by `***`."""
    if isinstance(value, dict):
        return {k: MASK if SENSITIVE_KEY.search(str(k)) else mask_payload(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_payload(v) for v in value]
    return value
