"""The HTTP API's own settings: who may change things, and whether reading needs a token too.

Kept apart from `gemsdash.queue.Settings` because only `gemsdash serve` has an admin token; the
worker and the TUI must never be able to leak one.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from gemsdash.queue.config import ENV_SETTINGS, read_settings


class HttpSettings(BaseSettings):
    model_config = ENV_SETTINGS

    #: Bearer token for the changing endpoints. Unset means they are refused, never open.
    admin_token: SecretStr | None = Field(default=None, validation_alias="GEMSDASH_ADMIN_TOKEN")
    #: Require the same token for reads (stats, jobs, dashboard, metrics) too.
    protect_reads: bool = Field(default=False, validation_alias="GEMSDASH_PROTECT_READS")

    @field_validator("admin_token")
    @classmethod
    def _blank_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        # `GEMSDASH_ADMIN_TOKEN=` in a .env file must not turn into "the empty string opens everything".
        if value is not None and not value.get_secret_value().strip():
            return None
        return value


def load_http_settings(**overrides: object) -> HttpSettings:
    return read_settings(HttpSettings, **overrides)
