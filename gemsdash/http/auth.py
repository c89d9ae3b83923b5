"""Bearer-token checks for the API's routes.

Fails closed: with no token configured a guarded route answers 403 rather than opening up, so a
forgotten environment variable can never turn `DELETE /queue/clear/...` into a public endpoint.
The comparison is constant-time so the token cannot be guessed byte by byte from response times.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import HTTPException, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="`Authorization: Bearer <GEMSDASH_ADMIN_TOKEN>`",
)


def token_matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class TokenGuard:
    """A FastAPI dependency admitting only requests that carry the admin token."""

    def __init__(self, token: SecretStr | None, disabled_reason: str) -> None:
        self._token = token
        self._disabled_reason = disabled_reason

    def __call__(self, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]) -> None:
        if self._token is None:
            raise HTTPException(status.HTTP_403_FORBIDDEN, self._disabled_reason)
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing bearer token: send Authorization: Bearer <GEMSDASH_ADMIN_TOKEN>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not token_matches(credentials.credentials, self._token.get_secret_value()):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "invalid bearer token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )


def admin_guard(token: SecretStr | None) -> TokenGuard:
    return TokenGuard(token, "changing endpoints are disabled: GEMSDASH_ADMIN_TOKEN is not set")


def read_guard(token: SecretStr | None) -> TokenGuard:
    return TokenGuard(token, "reads are protected (GEMSDASH_PROTECT_READS=true) but GEMSDASH_ADMIN_TOKEN is not set")
