"""The HTTP API's own settings: who may change things, and whether reading needs a token too.

Kept apart from `gemsdash.queue.Settings` because only `gemsdash serve` has an admin token; the
worker and the TUI must never be able to leak one.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gemsdash.queue import ConfigError


class HttpSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=(".env", ".env.local"),
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
    )

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


_ENV_NAMES = {"admin_token": "GEMSDASH_ADMIN_TOKEN", "protect_reads": "GEMSDASH_PROTECT_READS"}


def load_http_settings(**overrides: object) -> HttpSettings:
    """Read the settings, turning a validation failure into one line that names the variable."""
    try:
        return HttpSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        raise ConfigError(f"invalid value for {_ENV_NAMES.get(field, field)}: {first['msg']}") from None
