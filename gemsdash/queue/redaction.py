"""Keeping secrets out of everything gemsdash shows or stores as text.

Two kinds: configured secrets (Redis and SMTP passwords), replaced wherever they appear in error
messages and tracebacks; and sensitive payload fields (password, token, card, ...), masked by key
name whenever a payload is shown by the CLI, the TUI or the HTTP API.
"""

from __future__ import annotations

import base64
import re
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus

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

    @property
    def spellings(self) -> tuple[str, ...]:
        """Every secret as written and as encoded, longest first (so a longer form is masked whole)."""
        return _spellings(frozenset(self._own | _registered))

    def add(self, *secrets: str) -> None:
        self._own.update(s for s in secrets if s and len(s) >= 3)

    def text(self, value: str) -> str:
        """`value` with every known secret masked and any raw card number blanked."""
        for secret in self.spellings:
            value = value.replace(secret, MASK)
        return redact_card_numbers(value)


@lru_cache(maxsize=8)
def _spellings(secrets: frozenset[str]) -> tuple[str, ...]:
    forms: set[str] = set()
    for secret in secrets:
        forms.update(encoded_forms(secret))
    return tuple(sorted(forms, key=len, reverse=True))


def encoded_forms(secret: str) -> set[str]:
    """`secret`, URL-encoded, and the base64 text that betrays it wherever it sits in encoded data.

    A server that echoes an SMTP `AUTH PLAIN` argument echoes base64 of `\\0user\\0password`: the
    password's bytes start at any offset modulo 3 there, so for each of the three alignments the
    base64 of the whole 3-byte groups of the secret is masked (all but a character or two at the
    edges; at least one whole group, so never fewer than four characters).
    """
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    raw = secret.encode()
    forms.add(base64.b64encode(raw).decode().rstrip("="))
    for skip in range(3):
        chunk = raw[skip:]
        whole = len(chunk) // 3 * 3
        if whole >= 3:
            encoded = chunk[:whole]
            forms.add(base64.b64encode(encoded).decode())
            forms.add(base64.urlsafe_b64encode(encoded).decode())
    return {f for f in forms if len(f) >= 3}


def mask_payload(value: Any) -> Any:
    """A copy of `value` with the values of sensitive-looking keys replaced by `***`."""
    if isinstance(value, dict):
        return {k: MASK if SENSITIVE_KEY.search(str(k)) else mask_payload(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_payload(v) for v in value]
    if isinstance(value, tuple):
        return tuple(mask_payload(v) for v in value)
    return value
