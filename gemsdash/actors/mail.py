"""Rendering an email template into a MIME message (text part plus autoescaped HTML part).

Each template is three files in `templates/`: `<name>.subject.txt`, `<name>.txt` and `<name>.html`
(which extends `_layout.html`). Their variables are exactly `EMAIL_TEMPLATE_VARIABLES[name]`, the
list the payload model checks at enqueue, so a job that got past enqueue never meets an undefined
variable; StrictUndefined makes sure a template edit that breaks that rule fails loudly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateError, select_autoescape

from gemsdash.queue import PermanentJobError
from gemsdash.queue.payloads import EmailPayload

#: Digits after the decimal point, for the currencies where it is not 2 (ISO 4217).
MINOR_UNIT_EXPONENT: dict[str, int] = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
}


def money(amount: object, currency: object) -> str:
    """`1234, "USD"` -> `12.34 USD`: integers are minor units, as everywhere in gemsdash; anything
    else (`"12.34"`) is shown as given."""
    code = str(currency).upper()
    if isinstance(amount, int) and not isinstance(amount, bool):
        exponent = MINOR_UNIT_EXPONENT.get(code, 2)
        sign = "-" if amount < 0 else ""
        whole, minor = divmod(abs(amount), 10**exponent)
        return f"{sign}{whole:,}.{minor:0{exponent}d} {code}" if exponent else f"{sign}{whole:,} {code}"
    return f"{amount} {code}"


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("gemsdash.actors", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["money"] = money
    return env


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(template: str, context: dict[str, object]) -> Rendered:
    env = environment()
    try:
        subject = env.get_template(f"{template}.subject.txt").render(context)
        text = env.get_template(f"{template}.txt").render(context)
        html = env.get_template(f"{template}.html").render(context)
    except TemplateError as exc:
        raise PermanentJobError(f"template {template} cannot be rendered: {exc}") from None
    # A header is one line: a newline in a context value must not start a new header.
    return Rendered(re.sub(r"\s+", " ", subject).strip(), text, html)


def sender_domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "gemsdash.local"


def message_id(job_id: str, sender: str) -> str:
    """Derived from the job id: every attempt of a job sends the same Message-ID, so even a copy
    sent twice (the server accepted it but the worker died before recording that) is one message
    to the recipient's mail client."""
    return f"<{job_id}@{sender_domain(sender)}>"


def build_message(payload: EmailPayload, job_id: str, sender: str) -> EmailMessage:
    rendered = render(payload.template, dict(payload.context))
    message = EmailMessage()
    message["From"] = sender
    message["To"] = payload.to
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id(job_id, sender)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies to a notification
    message["X-Gemsdash-Job"] = job_id
    message["X-Gemsdash-Template"] = payload.template
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message
