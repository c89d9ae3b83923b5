"""Making job data safe to put on a terminal or in a log line.

Job data (errors, tracebacks, payload values, worker names, audit entries, queue names read from
Redis) is written by whoever can enqueue or reach Redis. Printed raw, an ESC starts a terminal
escape sequence: clear the screen, write the clipboard (OSC 52), plant a hidden link (OSC 8).
Bidi overrides reorder what the reader sees. Every output path (CLI human output, the dashboard,
the log record factory) passes such text through `visible` first, which shows each such character
as an escape (`\\x1b`, `\\u202e`) instead; `--json` output needs nothing, the JSON encoder escapes.

Lone surrogates (`"\\ud800"`, which JSON allows but UTF-8 cannot encode) are replaced by U+FFFD,
here and by `scrub`, which readers apply to stored records so one bad record never breaks a listing.
"""

from __future__ import annotations

import re
from typing import Any

#: C0 controls but tab and line feed, DEL, C1 controls, bidi marks, embeddings, overrides and
#: isolates, the Unicode line and paragraph separators, and surrogates.
_UNSAFE_MULTILINE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
#: The same, tab and line feed included: for text that must stay on one line.
_UNSAFE_ONE_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")

REPLACEMENT = "\ufffd"


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return REPLACEMENT
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, multiline: bool = False) -> str:
    """`text` with every control, bidi and surrogate character shown as an escape (`\\x1b`).

    With `multiline`, line feeds and tabs are kept (tracebacks, log messages); without, they are
    escaped too, so a value stays on its line of a listing.
    """
    if text.isprintable():
        return text
    return (_UNSAFE_MULTILINE if multiline else _UNSAFE_ONE_LINE).sub(_escape, text)


def valid_unicode(text: str) -> bool:
    """False when `text` holds a lone surrogate, which no UTF-8 reader (or encoder) accepts."""
    return text.isascii() or _SURROGATE.search(text) is None


def scrub(value: Any) -> Any:
    """`value` (decoded JSON) with lone surrogates in every string and key replaced by U+FFFD.

    Returns `value` itself when there is nothing to replace, so the common case allocates nothing.
    """
    if isinstance(value, str):
        return value if valid_unicode(value) else _SURROGATE.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        if all(_clean(k) and _clean(v) for k, v in value.items()):
            return value
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):  # tuples: the memory store's timelines
        if all(_clean(v) for v in value):
            return value
        return type(value)(scrub(v) for v in value)
    return value


def _clean(value: Any) -> bool:
    if isinstance(value, str):
        return valid_unicode(value)
    if isinstance(value, (dict, list, tuple)):
        return scrub(value) is value
    return True


def find_invalid_text(value: Any) -> str | None:
    """The dotted path of the first key or string holding a lone surrogate, or None.

    The walk is iterative: payload depth is bounded elsewhere, but this must not be the thing
    that overflows.
    """
    if isinstance(value, dict) and _flat_and_valid(value):
        return None
    stack: list[tuple[Any, str | None]] = [(value, None)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if not valid_unicode(item):
                return path or "payload"
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = str(key) if path is None else f"{path}.{key}"
                if isinstance(key, str) and not valid_unicode(key):
                    return _SURROGATE.sub(REPLACEMENT, child_path)
                stack.append((child, child_path))
        elif isinstance(item, (list, tuple)):
            stack.extend((child, f"{path}.{i}" if path else str(i)) for i, child in enumerate(item))
    return None


def _flat_and_valid(payload: dict[Any, Any]) -> bool:
    """The common case, answered without the walk's paths: a flat payload whose keys and strings
    are valid (every job validates its payload once more in the worker, and the walk was a
    no-op job's largest share of it)."""
    for key, item in payload.items():
        if isinstance(item, str):
            if not valid_unicode(item):
                return False
        elif isinstance(item, (dict, list, tuple)):
            return False
        if isinstance(key, str) and not valid_unicode(key):
            return False
    return True
