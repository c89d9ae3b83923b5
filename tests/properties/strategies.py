"""Hypothesis strategies for payloads: valid ones per job type, valid ones with one thing wrong, and
anything at all.

Valid text never contains decimal digits: a run of 13-19 digits may be a Luhn-valid card number,
which is (rightly) refused, and would make a "valid" example invalid by chance.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from typing import Any, get_args

from hypothesis import strategies as st

from gemsdash.queue import JobType
from gemsdash.queue.payloads import (
    EMAIL_TEMPLATE_VARIABLES,
    ISO_4217,
    AnalysisType,
    PaymentOperation,
    SketchQuality,
    SketchStyle,
)

_SAFE_CHARS = st.characters(blacklist_categories=("Cs", "Nd"))
#: Lone surrogates included: `--payload '"\ud800"'` decodes to one.
_ANY_CHARS = st.characters(blacklist_categories=())


def words(min_size: int = 1, max_size: int = 30) -> st.SearchStrategy[str]:
    return st.text(_SAFE_CHARS, min_size=min_size, max_size=max_size)


identifiers = st.text(string.ascii_letters + "_-", min_size=1, max_size=40)
emails = st.builds(
    "{}@{}.{}".format,
    st.text(string.ascii_letters + "._+", min_size=1, max_size=20),
    st.text(string.ascii_lowercase + "-", min_size=1, max_size=15),
    st.text(string.ascii_lowercase, min_size=2, max_size=6),
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_ANY_CHARS, max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)

_context_values = (
    words(0, 20) | st.integers(-(10**9), 10**9) | st.floats(allow_nan=False, allow_infinity=False) | st.booleans()
)

#: A link put in an email: only http and https are valid (a `javascript:` href is refused).
_web_urls = st.builds(
    "{}://{}.test/{}".format,
    st.sampled_from(["http", "https", "HTTPS"]),
    st.text(string.ascii_lowercase, min_size=1, max_size=10),
    st.text(string.ascii_letters + "/-_", max_size=20),
)

sketch = st.fixed_dictionaries(
    {"prompt": words(1, 60).filter(str.strip), "user_id": identifiers},
    optional={"style": st.sampled_from(get_args(SketchStyle)), "quality": st.sampled_from(get_args(SketchQuality))},
)


#: Relative paths inside the images folder (an absolute path, `..` or a control character is refused).
image_paths = st.lists(
    st.text(string.ascii_letters + string.digits + "._- ", min_size=1, max_size=20).filter(
        lambda p: p not in (".", "..")
    ),
    min_size=1,
    max_size=3,
).map("/".join)


def _emotion(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    fields: dict[str, st.SearchStrategy[Any]] = {"analysis_type": st.just(kind), "user_id": identifiers}
    if kind != "image":
        fields["text"] = words(1, 80)
    if kind != "text":
        fields["image_path"] = image_paths
    return st.fixed_dictionaries(fields)


emotion = st.sampled_from(get_args(AnalysisType)).flatmap(_emotion)


def _email(template: str) -> st.SearchStrategy[dict[str, Any]]:
    required = sorted(EMAIL_TEMPLATE_VARIABLES[template])
    context = st.fixed_dictionaries(
        {name: _web_urls if name.endswith("_url") else _context_values for name in required},
        optional={"note": _context_values, "password": words(3, 12)},
    )
    return st.fixed_dictionaries(
        {"to": emails, "template": st.just(template), "context": context}, optional={"user_id": identifiers}
    )


email = st.sampled_from(sorted(EMAIL_TEMPLATE_VARIABLES)).flatmap(_email)


def _payment(operation: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "payment_id": identifiers,
            "operation": st.just(operation),
            "amount": st.integers(0 if operation == "verify" else 1, 10**12),
            "currency": st.sampled_from(sorted(ISO_4217)),
            "payment_method": st.text(string.ascii_letters + "_", min_size=1, max_size=64).map("pm_{}".format),
            "idempotency_key": identifiers,
        }
    )


payment = st.sampled_from(get_args(PaymentOperation)).flatmap(_payment)

VALID: dict[JobType, st.SearchStrategy[dict[str, Any]]] = {
    JobType.SKETCH_GENERATION: sketch,
    JobType.EMOTION_ANALYSIS: emotion,
    JobType.EMAIL_NOTIFICATION: email,
    JobType.PAYMENT_PROCESSING: payment,
}


@dataclass(frozen=True)
class Candidate:
    """An input, and how it was made: `valid`, `drop`, `replace`, `extra` (naming `key`) or `any`."""

    how: str
    payload: Any
    key: str | None = None


@st.composite
def mutated(draw: st.DrawFn, job_type: JobType, fields: list[str]) -> Candidate:
    """A valid payload with one field dropped, replaced by anything, or one unknown field added."""
    payload = dict(draw(VALID[job_type]))
    how = draw(st.sampled_from(["drop", "replace", "extra"]))
    if how == "drop":
        key = draw(st.sampled_from(sorted(payload)))
        del payload[key]
    elif how == "replace":
        key = draw(st.sampled_from(fields))
        payload[key] = draw(json_values)
    else:
        key = draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in fields))
        payload[key] = draw(json_values)
    return Candidate(how, payload, key)


def candidates(job_type: JobType, fields: list[str]) -> st.SearchStrategy[Candidate]:
    return st.one_of(
        VALID[job_type].map(lambda p: Candidate("valid", p)),
        mutated(job_type, fields),
        st.dictionaries(st.sampled_from(fields) | st.text(max_size=8), json_values, max_size=6).map(
            lambda p: Candidate("any", p)
        ),
        json_values.map(lambda p: Candidate("any", p)),
    )


def payload_texts(job_type: JobType, fields: list[str]) -> st.SearchStrategy[str]:
    """What a user might pass to `--payload`: JSON of the candidates above, or any text at all."""
    return st.one_of(
        candidates(job_type, fields).map(lambda c: json.dumps(c.payload)),
        st.text(_ANY_CHARS, max_size=40),
        st.text('{}[]":,0123456789.eE+-truefalsn ', max_size=30),
    )
