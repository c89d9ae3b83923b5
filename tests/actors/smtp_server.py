"""A real SMTP server on loopback (aiosmtpd) that keeps what it accepted and can be told to refuse."""

from __future__ import annotations

import base64
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support import free_port


class Recorder:
    """The handler: accepted messages in order, plus scripted refusals."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.data_replies: list[str] = []  # replies to the next DATA commands, instead of accepting
        self.refused_rcpt: dict[str, str] = {}
        self.lock = threading.Lock()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refused_rcpt:
            return self.refused_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.data_replies:
                return self.data_replies.pop(0)
            message = message_from_bytes(envelope.content, policy=policy.default)
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
        return "250 2.0.0 Message accepted"


class SmtpServer:
    def __init__(self, credentials: tuple[str, str] | None = None, echo: str = "password") -> None:
        """`echo`: what a refused login's reply repeats, `password` or `auth-plain` (the base64
        `AUTH PLAIN` argument, as some servers log and echo it)."""
        self.recorder = Recorder()
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if credentials is not None:
            user, password = credentials

            def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
                ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
                    user.encode(),
                    password.encode(),
                )
                if ok:
                    return AuthResult(success=True, handled=False)
                # A careless server that echoes what it was sent: the client must not repeat it.
                tried = data.password.decode() if isinstance(data, LoginPassword) else "?"
                if echo == "auth-plain" and isinstance(data, LoginPassword):
                    tried = base64.b64encode(b"\0" + data.login + b"\0" + data.password).decode()
                return AuthResult(success=False, handled=False, message=f"535 5.7.8 Bad credentials {tried}")

            kwargs = {
                "authenticator": authenticate,
                "auth_require_tls": False,
                "auth_required": True,
            }
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, **kwargs)

    @property
    def messages(self) -> list[EmailMessage]:
        with self.recorder.lock:
            return list(self.recorder.messages)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
