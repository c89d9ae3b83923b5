"""Payload models: the contract between producers and the job code.

Models are strict (no coercion: `"5"` is not an amount) and refuse unknown fields, so a typo in a
producer fails at enqueue with the field named instead of at 3 a.m. in a worker. Every payload is
also scanned for raw card numbers, which must never be stored or logged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

MAX_PROMPT_CHARS = 500
MAX_TEXT_CHARS = 10_000

SketchStyle = Literal["realistic", "cartoon", "watercolor", "line-art"]
SketchQuality = Literal["low", "medium", "high"]
AnalysisType = Literal["text", "image", "combined"]
PaymentOperation = Literal["capture", "refund", "verify"]

#: Each email template and the context variables it needs. The templates themselves live with the
#: email job code; a test checks that they use no variable outside this list.
EMAIL_TEMPLATE_VARIABLES: dict[str, frozenset[str]] = {
    "welcome": frozenset({"name"}),
    "password-reset": frozenset({"name", "reset_url"}),
    "sketch-ready": frozenset({"name", "sketch_url"}),
    "payment-receipt": frozenset({"name", "amount", "currency", "payment_id"}),
}
EmailTemplate = Literal["welcome", "password-reset", "sketch-ready", "payment-receipt"]

#: Active ISO 4217 codes (the 2024 list, less funds and precious metals).
ISO_4217 = frozenset(
    [
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "ANG",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BHD",
        "BIF",
        "BMD",
        "BND",
        "BOB",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHF",
        "CLP",
        "CNY",
        "COP",
        "CRC",
        "CUP",
        "CVE",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GNF",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JMD",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KHR",
        "KMF",
        "KPW",
        "KRW",
        "KWD",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "LYD",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TND",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "UGX",
        "USD",
        "UYU",
        "UZS",
        "VES",
        "VND",
        "VUV",
        "WST",
        "XAF",
        "XCD",
        "XCG",
        "XOF",
        "XPF",
        "YER",
        "ZAR",
        "ZMW",
        "ZWG",
    ]
)

#: 13-19 digits as people write them (in one run, in groups of four, or Amex's and Diners' 4-6-5 and
#: 4-6-4), standing alone: a digit run inside an identifier is not a card number. Without these
#: limits a uuid4's hex held a Luhn-valid run about once in 250, and a dashed uuid4 once in 7,700.
#: After a `+` it is a phone number (E.164).
_CARD_CANDIDATE = re.compile(
    r"(?<![0-9A-Za-z+])(?:"
    r"\d{13,19}"
    r"|\d{4}([ -])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{3})?"
    r"|\d{4}([ -])\d{6}\2\d{4,5}"
    r")(?![0-9A-Za-z])"
)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")

UserId = str


#: Issuer prefixes (IIN ranges, compared on the leading digits) and the lengths each network issues,
#: as card scanners check them: a Luhn-valid run is a card number only if a network issues numbers
#: that start like it and are that long. Without this, one millisecond timestamp in ten (13 digits
#: starting with 1) was blanked from log lines as "[card number]".
CARD_NETWORKS: tuple[tuple[str, tuple[tuple[str, str], ...], frozenset[int]], ...] = (
    ("Visa", (("4", "4"),), frozenset({13, 16, 19})),
    ("Mastercard", (("51", "55"), ("2221", "2720")), frozenset({16})),
    ("American Express", (("34", "34"), ("37", "37")), frozenset({15})),
    ("Discover", (("6011", "6011"), ("644", "649"), ("65", "65"), ("622126", "622925")), frozenset(range(16, 20))),
    ("Diners Club", (("300", "305"), ("3095", "3095"), ("36", "36"), ("38", "39")), frozenset(range(14, 20))),
    ("JCB", (("3528", "3589"),), frozenset(range(16, 20))),
    ("UnionPay", (("62", "62"), ("81", "81")), frozenset(range(16, 20))),
    ("Maestro", (("50", "50"), ("56", "69")), frozenset(range(13, 20))),
    ("Mir", (("2200", "2204"),), frozenset(range(16, 20))),
    ("RuPay", (("60", "60"), ("82", "82"), ("508", "508")), frozenset({16})),
    ("UATP", (("1", "1"),), frozenset({15})),
)


def card_network(digits: str) -> str | None:
    """The network that issues card numbers of this prefix and length, or None."""
    for name, prefixes, lengths in CARD_NETWORKS:
        if len(digits) in lengths and any(low <= digits[: len(low)] <= high for low, high in prefixes):
            return name
    return None


def is_card_number(digits: str) -> bool:
    """A run of digits a card scanner would report: a network's prefix and length, and Luhn-valid."""
    return card_network(digits) is not None and luhn_valid(digits)


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


#: Payloads nested deeper than this are refused (and never walked recursively).
MAX_DEPTH = 32


class TooDeep(ValueError):
    def __init__(self, path: str) -> None:
        self.path = path or "payload"
        super().__init__(f"nested deeper than {MAX_DEPTH} levels")


def find_card_number(value: Any) -> str | None:
    """The path of the first field holding a Luhn-valid run of 13-19 digits, or None.

    Walks raw input (before validation) so a card number is refused even where the field would
    have failed for another reason, and the error names only the field, never the digits. Keys,
    strings and numbers are all checked; the walk is iterative and refuses nesting deeper than
    MAX_DEPTH with TooDeep.
    """
    if isinstance(value, dict) and _flat_without_long_digit_runs(value):
        return None
    # The root's path is None: an empty key ("") is a field name like any other.
    stack: list[tuple[Any, str | None, int]] = [(value, None, 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise TooDeep(path or "")
        if isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                child_path = _child(path, key)
                if _has_card_number(str(key)):
                    return _child(path, redact_card_numbers(str(key)))  # the error must not repeat it
                stack.append((child, child_path, depth + 1))
        elif isinstance(item, (list, tuple)):
            for index in range(len(item) - 1, -1, -1):
                stack.append((item[index], _child(path, index), depth + 1))
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, float):
            if item == item and abs(item) != float("inf") and _has_card_number(str(int(item))):
                return "payload" if path is None else path
        elif _has_card_number(str(item)):
            return "payload" if path is None else path
    return None


_LONG_DIGIT_RUN = re.compile(r"\d[\d -]{11}")


def _flat_without_long_digit_runs(payload: dict[Any, Any]) -> bool:
    """The common case, answered fast: a flat payload (or one level of nesting, like an email's
    context) in which no key or value holds 13 digits in a row, with or without separators."""
    for key, item in payload.items():
        if isinstance(item, dict):
            if not all(_short_scalar(k) and _short_scalar(v) for k, v in item.items()):
                return False
        elif not (_short_scalar(key) and _short_scalar(item)):
            return False
    return True


def plain_flat(payload: Any) -> bool:
    """A flat object of ASCII keys and scalar values, none holding 13 digits in a row: most jobs'
    payload, in which neither a card number nor a lone surrogate can be, answered in one pass
    (find_card_number and visible.find_invalid_text walk it once each, at the producer and again
    at the worker: in memory mode, a share of a no-op job's time)."""
    if type(payload) is not dict:
        return False
    # Strings, the usual keys and values, are checked here (as _short_scalar would, without a call
    # per key and per value: ~2k instructions each, a share of a no-op job in memory mode).
    for key, item in payload.items():
        if type(key) is not str or not key.isascii() or (len(key) >= 12 and _LONG_DIGIT_RUN.search(key)):
            return False
        if type(item) is str:
            if not item.isascii() or (len(item) >= 12 and _LONG_DIGIT_RUN.search(item)):
                return False
        elif isinstance(item, (str, dict, list, tuple)) or not _short_scalar(item):
            return False
    return True


def _short_scalar(item: Any) -> bool:
    if item is None or isinstance(item, bool):
        return True
    if isinstance(item, (str, int, float)):
        text = str(item)
        # A run is 12 characters or more: most values are shorter and need no regex.
        return len(text) < 12 or _LONG_DIGIT_RUN.search(text) is None
    return False


def redact_card_numbers(text: str) -> str:
    """`text` with every card number (prefix, length and Luhn checked) replaced: for log lines and errors."""

    def replace(match: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", match.group())
        return "[card number]" if is_card_number(digits) else match.group()

    return _CARD_CANDIDATE.sub(replace, text)


def _child(path: str | None, key: object) -> str:
    return str(key) if path is None else f"{path}.{key}"


def _has_card_number(text: str) -> bool:
    for match in _CARD_CANDIDATE.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if is_card_number(digits):
            return True
    return False


#: The web URLs the OpenAPI description publishes for a context's `*_url` values: a subset of what
#: `web_url` takes (an ASCII host name, an optional port and path).
WEB_URL_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::[0-9]{1,4})?(?:/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?$"
)


def web_url(value: object) -> bool:
    """An absolute http or https URL with a host, and nothing a mail client could read otherwise."""
    if not isinstance(value, str) or not value.isprintable() or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def field_error(field: str, message: str) -> PydanticCustomError:
    """A cross-field error that still names its field (pydantic leaves `loc` empty for these)."""
    return PydanticCustomError("field_error", "{message}", {"field": field, "message": message})


class RawCardNumber(ValueError):
    """Raised before model validation; carries only the field path."""

    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__("looks like a raw card number; send a payment method token instead")


def camel_spellings(field: str) -> tuple[str, ...]:
    """`field` and, when it differs, its camelCase spelling (`user_id`, `userId`)."""
    camel = to_camel(field)
    return (field,) if camel == field else (field, camel)


class Payload(BaseModel):
    """Every job type's payload model: strict (no coercion), unknown fields refused, frozen.

    Each field (a nested Payload's too) is also accepted in its camelCase spelling (`userId` for
    `user_id`), as the seed's producers send it; the model, and so the record, keeps snake_case.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _snake_case(cls, data: Any) -> Any:
        return snake_case(cls, data)


def snake_case(model: type[BaseModel], data: Any) -> Any:
    """`data` with the camelCase spellings of `model`'s fields renamed to the fields' names."""
    if not isinstance(data, dict):
        return data
    spellings = _camel_names(model)
    if spellings.keys().isdisjoint(data):  # the common case, in C: no camelCase spelling given
        return data
    renamed: dict[Any, Any] = {}
    for key, value in data.items():
        name = spellings.get(key, key) if isinstance(key, str) else key
        if name != key and name in data:
            raise field_error(name, f"given twice, as {name} and {key}: send one")
        renamed[name] = value
    return renamed


def _camel_names(model: type[BaseModel]) -> dict[str, str]:
    """camelCase spelling -> field name, for the fields whose spellings differ."""
    found = _CAMEL_NAMES.get(model)
    if found is None:
        found = {camel: name for name in model.model_fields for camel in camel_spellings(name)[1:]}
        _CAMEL_NAMES[model] = found
    return found


_CAMEL_NAMES: dict[type[BaseModel], dict[str, str]] = {}


# The cross-field rules below are also stated in each model's JSON Schema (`json_schema_extra`), so
# the OpenAPI description accepts only what the validators do (as far as JSON Schema can say it:
# not the card-number scan). JSON Schema patterns are ECMA-262, whose `\s` leaves out characters
# that Python counts as whitespace: those are named too.
_PY_SPACE = r"\s\x1c-\x1f\x85"


class SketchPayload(Payload):
    prompt: str = Field(
        min_length=1,
        max_length=MAX_PROMPT_CHARS,
        json_schema_extra={"pattern": f"[^{_PY_SPACE}]"},
        description="not blank",
    )
    style: SketchStyle = "line-art"
    quality: SketchQuality = "medium"
    user_id: UserId = Field(min_length=1, max_length=128)

    @model_validator(mode="after")
    def _prompt_not_blank(self) -> SketchPayload:
        if not self.prompt.strip():
            raise field_error("prompt", "must not be blank")
        return self


def _sorted(values: Iterable[str]) -> list[Any]:
    """Sorted, typed for `json_schema_extra`."""
    return sorted(values)


def _present(field: str) -> dict[str, Any]:
    return {"properties": {field: {"type": "string"}}, "required": [field]}


def _absent(field: str) -> dict[str, Any]:
    return {"properties": {field: {"type": "null"}}}


def _when(field: str, values: list[str], then: list[dict[str, Any]], otherwise: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "if": {"properties": {field: {"enum": values}}, "required": [field]},
        "then": {"allOf": then},
        "else": {"allOf": otherwise},
    }


#: The one text for every image_path that cannot be used, at enqueue (a path that is absolute or
#: climbs out with `..`) and at run time (missing, a symlink, a FIFO, a directory, not an image...):
#: the error never tells which files exist, and never repeats the path.
IMAGE_PATH_RULE = "must name an image file inside the images folder: a relative path, without '..' or symlinks"


#: The image paths the OpenAPI description publishes: a subset of what `image_path_ok` takes (printable
#: ASCII without `~`), spelt without lookarounds: segments joined by `/`, none of them `.` or `..`.
_PATH_CHAR = r"[\x20-\x2e\x30-\x5b\x5d-\x7d]"
_PATH_NOT_DOT = r"[\x20-\x2d\x30-\x5b\x5d-\x7d]"
_PATH_SEGMENT = rf"(?:{_PATH_NOT_DOT}{_PATH_CHAR}*|\.{_PATH_NOT_DOT}{_PATH_CHAR}*|\.\.{_PATH_CHAR}+)"
IMAGE_PATH_PATTERN = rf"^(?:{_PATH_SEGMENT}/)*{_PATH_SEGMENT}$"


def image_path_ok(path: str) -> bool:
    """Whether `path` reads as a file inside the images folder, judged from its text alone (the
    producer may not see the worker's files; symlinks are refused when the file is opened)."""
    if path.startswith(("/", "~")) or "\\" in path or not path.isprintable():
        return False
    parts = path.split("/")
    return ".." not in parts and bool(parts[-1]) and parts[-1] != "."


class EmotionPayload(Payload):
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                _when("analysis_type", ["image", "combined"], [_present("image_path")], [_absent("image_path")]),
                _when("analysis_type", ["image"], [_absent("text")], [_present("text")]),
            ]
        }
    )

    text: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT_CHARS)
    image_path: str | None = Field(
        default=None, min_length=1, max_length=4096, json_schema_extra={"pattern": IMAGE_PATH_PATTERN}
    )
    analysis_type: AnalysisType = "text"
    user_id: UserId = Field(min_length=1, max_length=128)

    @model_validator(mode="after")
    def _fields_match_type(self) -> EmotionPayload:
        needs_text = self.analysis_type in ("text", "combined")
        needs_image = self.analysis_type in ("image", "combined")
        for field, needed, given in (
            ("text", needs_text, self.text is not None),
            ("image_path", needs_image, self.image_path is not None),
        ):
            if needed != given:
                verdict = "required" if needed else "not allowed"
                raise field_error(field, f"{verdict} for analysis_type={self.analysis_type}")
        if self.image_path is not None and not image_path_ok(self.image_path):
            raise field_error("image_path", IMAGE_PATH_RULE)
        return self


ContextValue = str | StrictInt | float | bool


class EmailPayload(Payload):
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"template": {"const": template}}},
                    "then": {"required": ["context"], "properties": {"context": {"required": _sorted(names)}}},
                }
                for template, names in EMAIL_TEMPLATE_VARIABLES.items()
            ]
        }
    )

    to: str = Field(
        min_length=3, max_length=254, json_schema_extra={"pattern": _EMAIL.pattern.replace(r"\s", _PY_SPACE)}
    )
    template: EmailTemplate
    context: dict[str, ContextValue] = Field(
        default_factory=dict,
        json_schema_extra={"patternProperties": {"_url$": {"type": "string", "pattern": WEB_URL_PATTERN}}},
    )
    user_id: UserId | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _address_and_context(self) -> EmailPayload:
        if not _EMAIL.match(self.to):
            raise field_error("to", "is not an email address")
        missing = sorted(EMAIL_TEMPLATE_VARIABLES[self.template] - self.context.keys())
        if missing:
            raise field_error("context", f"missing {', '.join(missing)} for template {self.template}")
        for name in sorted(k for k in self.context if k.endswith("_url")):
            if not web_url(self.context[name]):
                # It becomes the href of a link in the email: `javascript:` or `data:` must not.
                raise field_error(f"context.{name}", "must be an http:// or https:// URL")
        return self


def _whole_number(value: Any) -> Any:
    """JSON has one number type, and to JSON Schema (so to clients built from the OpenAPI
    description) 1250.0 is the integer 1250: take it as such. 12.5, "1250" and true stay refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = Annotated[StrictInt, BeforeValidator(_whole_number)]


class PaymentPayload(Payload):
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"operation": {"enum": ["capture", "refund"]}}},
            "then": {"properties": {"amount": {"minimum": 1}}},
        }
    )

    payment_id: str = Field(min_length=1, max_length=128)
    operation: PaymentOperation
    amount: WholeNumber = Field(ge=0, le=10**12, description="integer minor units (cents)")
    currency: str = Field(min_length=3, max_length=3, json_schema_extra={"enum": _sorted(ISO_4217)})
    payment_method: str = Field(pattern=r"^pm_[A-Za-z0-9_]{1,64}$")
    idempotency_key: str = Field(min_length=1, max_length=255)

    @model_validator(mode="after")
    def _currency_and_amount(self) -> PaymentPayload:
        if self.currency not in ISO_4217:
            raise field_error("currency", "is not an ISO 4217 code (e.g. USD, EUR)")
        if self.operation in ("capture", "refund") and self.amount <= 0:
            raise field_error("amount", f"must be positive for {self.operation}")
        return self
