"""The built-in EmailSender: SMTP when SMTP_HOST is set, otherwise `.eml` files in an outbox folder.

SMTP replies decide what happens next: 4xx and a lost connection are retried (the server asked to
come back later, or never answered); 5xx is final, so the job goes to `dead` at once instead of
hammering a server that already said no. The password is only ever handed to smtplib; every error
text is passed through the redactor first in case a server echoes credentials back.
"""

from __future__ import annotations

import smtplib
import ssl
from email import policy
from email.message import EmailMessage

from gemsdash.actors.files import data_path, write_atomic
from gemsdash.actors.protocols import TransientDeliveryError
from gemsdash.actors.settings import ActorSettings, actor_settings
from gemsdash.queue import PermanentJobError


class BuiltinSender:
    """Reads the settings at each send, so a test or an operator changing them needs no restart of
    the factory cache."""

    def send(self, message: EmailMessage) -> str:
        settings = actor_settings()
        if settings.smtp_host:
            return SmtpSender(settings).send(message)
        return OutboxSender().send(message)


class OutboxSender:
    """Development delivery: one RFC 5322 file per job, openable by any mail client."""

    def send(self, message: EmailMessage) -> str:
        name = str(message.get("X-Gemsdash-Job") or message["Message-ID"]).strip("<>")
        path = data_path("outbox", f"{name}.eml")
        write_atomic(path, message.as_bytes(policy=policy.SMTP))
        return f"file://{path}"


class SmtpSender:
    def __init__(self, settings: ActorSettings) -> None:
        self.settings = settings

    def send(self, message: EmailMessage) -> str:
        s = self.settings
        where = f"smtp://{s.smtp_host}:{s.smtp_port}"
        try:
            client = smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=s.smtp_timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise self._classify(exc, where) from None
        try:
            client.ehlo()
            if s.smtp_starttls:
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if s.smtp_username:
                password = s.smtp_password.get_secret_value() if s.smtp_password else ""
                client.login(s.smtp_username, password)
            client.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            client.close()
            raise self._classify(exc, where) from None
        # Accepted: from here on nothing may fail the job, or a retry would send a second copy.
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()
        return where

    def _classify(self, exc: BaseException, where: str) -> Exception:
        detail = self.settings.redact(describe(exc))
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = [code for code, _ in exc.recipients.values()]
            transient = any(400 <= code < 500 for code in codes)
        elif isinstance(exc, smtplib.SMTPResponseException):
            transient = 400 <= exc.smtp_code < 500
        elif isinstance(exc, smtplib.SMTPNotSupportedError | ssl.SSLCertVerificationError):
            transient = False  # STARTTLS or AUTH not offered, or a certificate we must not trust
        else:  # connection refused or lost, timeout: the server may be back soon
            transient = True
        if transient:
            return TransientDeliveryError(f"{where} will retry: {detail}")
        return PermanentJobError(f"{where} rejected the message: {detail}")


def describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
