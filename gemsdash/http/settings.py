"""The HTTP API's own settings: who may change things, and whether reading needs a token too.

Kept apart from `gemsdash.queue.Settings` because only `gemsdash serve` has an admin token; the
worker and the TUI must never be able to leak one.
"""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from gemsdash.queue.config import ENV_SETTINGS, read_settings

#: What a browser sends as `Origin`: a scheme, a host and maybe a port; no path, no trailing slash.
ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def _split(value: str) -> list[str]:
    return [origin.strip() for origin in value.split(",") if origin.strip()]


class HttpSettings(BaseSettings):
    model_config = ENV_SETTINGS

    #: Bearer token for the changing endpoints. Unset means they are refused, never open.
    admin_token: SecretStr | None = Field(default=None, validation_alias="GEMSDASH_ADMIN_TOKEN")
    #: Require the same token for reads (stats, jobs, dashboard, metrics) too.
    protect_reads: bool = Field(default=False, validation_alias="GEMSDASH_PROTECT_READS")
    #: Browser origins allowed to call the API (CORS), comma-separated; none by default.
    cors_origins: str = Field(default="", validation_alias="GEMSDASH_CORS_ORIGINS")

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in _split(value):
            if origin != "*" and not ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin: scheme://host[:port] (no path), or *")
        return value

    @property
    def cors_origin_list(self) -> list[str]:
        return _split(self.cors_origins)

    @field_validator("admin_token")
    @classmethod
    def _blank_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        # `GEMSDASH_ADMIN_TOKEN=` in a .env file must not turn into "the empty string opens everything".
        if value is not None and not value.get_secret_value().strip():
            return None
        return value


def load_http_settings(**overrides: object) -> HttpSettings:
    return read_settings(HttpSettings, **overrides)
