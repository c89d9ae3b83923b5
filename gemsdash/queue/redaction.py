"""Keeping secrets out of everything gemsdash shows or stores as text.

Two kinds: configured secrets (Redis and SMTP passwords), replaced wherever they appear in error
messages and tracebacks; and sensitive payload fields (password, token, card, ...), masked by key
name whenever a payload is shown by the CLI, the TUI or the HTTP API.
"""

from __future__ import annotations

import base64
import hashlib
import json
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


#: Payload fields job types declare secret (gemsdash.queue.registry), masked like sensitive-looking keys.
_secret_fields: set[str] = set()


def register_secret_fields(*names: str) -> None:
    """Mask the values of fields with these names in every payload shown from now on."""
    _secret_fields.update(names)


def sensitive_key(key: object) -> bool:
    return str(key) in _secret_fields or SENSITIVE_KEY.search(str(key)) is not None


def mask_payload(value: Any) -> Any:
    """A copy of `value` with the values of sensitive-looking keys replaced by `***`."""
    if isinstance(value, dict):
        return {k: MASK if sensitive_key(k) else mask_payload(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_payload(v) for v in value]
    if isinstance(value, tuple):
        return tuple(mask_payload(v) for v in value)
    return value


# -- raw text that could not be read as a payload (malformed or refused messages) ------------------

#: Characters kept of a message that could not be read or was refused: enough to see what it was.
RAW_HEAD_CHARS = 4096
#: Scanned past the cut, so a secret or card number straddling it is still recognised and masked.
_RAW_OVERLAP = 256

_RAW_SENSITIVE_VALUE = re.compile(
    # Starts at the key word itself (the rest of the key name before it is left as it is): a
    # leading `[\w.-]*` made the scan of a long run of letters quadratic.
    r"""(?P<key>(?:""" + SENSITIVE_KEY.pattern + r""")[\w.-]{0,40}["']?\s{0,8}[:=]\s{0,8})"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"?|'[^']*'?|(?:(?:bearer|basic|digest|token)\s+)?[^\s,;&}\]]+)""",
    re.I,
)


def mask_raw_text(text: str) -> str:
    """`text` (JSON, `key=value` pairs, or anything in between, truncated or not) with the value
    after every sensitive-looking key replaced by `***`: what `mask_payload` does for a parsed
    payload, for text that cannot be parsed."""
    text = _RAW_SENSITIVE_VALUE.sub(lambda m: m.group("key") + MASK, text)
    if _secret_fields:
        text = _raw_secret_fields(frozenset(_secret_fields)).sub(lambda m: m.group("key") + MASK, text)
    return text


@lru_cache(maxsize=4)
def _raw_secret_fields(names: frozenset[str]) -> re.Pattern[str]:
    """The raw-text scan for the declared secret fields: a quoted key, then its value."""
    keys = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(
        r"""(?P<key>["'](?:""" + keys + r""")["']\s{0,8}:\s{0,8})(?P<value>"(?:[^"\\]|\\.)*"?|[^\s,;&}\]]+)"""
    )


def raw_evidence(data: bytes, redactor: Redactor, parsed: Any = None, *, was_parsed: bool = False) -> dict[str, Any]:
    """What is kept of a message that cannot run: its size, its sha256 (to match it with a copy
    kept elsewhere) and its first characters, scrubbed like a payload (sensitive fields masked,
    known secrets and card numbers blanked). Never the whole message: a 30 MB one stays out of
    the record, the dead-letter queue and every listing.

    `parsed` (with `was_parsed`): the data as JSON, when it is JSON; its values are then masked by
    key and shown re-encoded, so escapes such as `\\u0034` cannot hide digits from the scan."""
    if was_parsed:
        text = json.dumps(mask_payload(parsed), separators=(",", ":"), default=str)
    else:
        text = mask_raw_text(data[: (RAW_HEAD_CHARS + _RAW_OVERLAP) * 4].decode("utf-8", errors="replace"))
    window = text[: RAW_HEAD_CHARS + _RAW_OVERLAP]
    return {
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "head": redactor.text(mask_raw_text(window))[:RAW_HEAD_CHARS],
        "truncated": len(text) > RAW_HEAD_CHARS,
    }
