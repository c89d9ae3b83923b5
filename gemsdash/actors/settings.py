"""Settings of the job code: where files go, how mail is delivered, which implementation does each job.

Kept apart from `gemsdash.queue.Settings` because only worker processes need them; read from the same
environment and `.env` files. A bad value stops the worker with one line naming the variable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from gemsdash.queue import ConfigError, PermanentJobError
from gemsdash.queue.config import ENV_SETTINGS, read_settings
from gemsdash.queue.importing import import_attribute
from gemsdash.queue.redaction import Redactor, register_secret

#: `module.path:factory`: the factory is called with no arguments and returns the implementation.
PLUGIN_PATTERN = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"


class ActorSettings(BaseSettings):
    model_config = ENV_SETTINGS

    data_dir: Path = Field(default=Path(".gemsdash"), validation_alias="GEMSDASH_DATA_DIR")
    #: Where emotion-analysis reads `image_path` from (nothing outside it); default: data_dir.
    images_dir: Path | None = Field(default=None, validation_alias="GEMSDASH_IMAGES_DIR")

    smtp_host: str | None = Field(default=None, validation_alias="SMTP_HOST")
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = Field(default=587, validation_alias="SMTP_PORT")
    smtp_username: str | None = Field(default=None, validation_alias="SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(default=None, validation_alias="SMTP_PASSWORD")
    smtp_starttls: bool = Field(default=False, validation_alias="SMTP_STARTTLS")
    smtp_timeout: Annotated[float, Field(gt=0)] = Field(default=10.0, validation_alias="SMTP_TIMEOUT")
    email_from: str = Field(default="gemsdash <noreply@gemsdash.local>", validation_alias="EMAIL_FROM")

    sketch_generator: str | None = Field(
        default=None, validation_alias="GEMSDASH_SKETCH_GENERATOR", pattern=PLUGIN_PATTERN
    )
    emotion_analyzer: str | None = Field(
        default=None, validation_alias="GEMSDASH_EMOTION_ANALYZER", pattern=PLUGIN_PATTERN
    )
    email_sender: str | None = Field(default=None, validation_alias="GEMSDASH_EMAIL_SENDER", pattern=PLUGIN_PATTERN)
    payment_gateway: str | None = Field(
        default=None, validation_alias="GEMSDASH_PAYMENT_GATEWAY", pattern=PLUGIN_PATTERN
    )

    def secrets(self) -> list[str]:
        """Values that must never appear in an error message, a log line or a job record."""
        return [self.smtp_password.get_secret_value()] if self.smtp_password else []

    def redact(self, text: str) -> str:
        return Redactor(self.secrets()).text(text)


_lock = threading.Lock()
_settings: ActorSettings | None = None
_plugins: dict[str, Any] = {}


def load_actor_settings(**overrides: Any) -> ActorSettings:
    """Read the settings; their secrets (the SMTP password) are masked process-wide from then on,
    in job errors, tracebacks and log lines, before any job has run."""
    settings = read_settings(ActorSettings, **overrides)
    register_secret(*settings.secrets())
    return settings


def actor_settings() -> ActorSettings:
    """This process's settings, read once (workers are restarted to change configuration)."""
    global _settings
    with _lock:
        if _settings is None:
            _settings = load_actor_settings()
        return _settings


def use_settings(settings: ActorSettings | None) -> None:
    """Replace (or, with None, forget) the settings; tests and embedding applications use this."""
    global _settings
    with _lock:
        _settings = settings
        _plugins.clear()
    if settings is not None:
        register_secret(*settings.secrets())


def plugin(spec: str | None, default: Callable[[], object], protocol: type) -> Any:
    """The implementation named by `spec` (`module:factory`), or `default()`; built once per process.

    The result is checked against `protocol` so a wrong factory fails with a clear message on the
    first job instead of an AttributeError deep inside it.
    """
    key = f"{protocol.__name__}={spec or 'builtin'}"
    with _lock:
        if key in _plugins:
            return _plugins[key]
    factory = default if spec is None else _import_factory(spec)
    try:
        instance = factory()
    except Exception as exc:
        raise ConfigError(f"{spec}: the factory failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(instance, protocol):
        raise ConfigError(f"{spec or default}: returned {type(instance).__name__}, not a {protocol.__name__}")
    with _lock:
        return _plugins.setdefault(key, instance)


def implementation(setting: str, default: Callable[[], object], protocol: type) -> Any:
    """`plugin()` for the setting named `setting`, as job code needs it: a configuration error
    fails the job for good (retrying in the same misconfigured process cannot help) with the reason
    in the job record, and the operator retries the dead jobs once the worker is fixed."""
    try:
        return plugin(getattr(actor_settings(), setting), default, protocol)
    except ConfigError as exc:
        raise PermanentJobError(f"configuration error: {exc}") from None


def check_configuration() -> None:
    """Resolve every configured implementation now; a worker can call this at start-up to fail
    fast instead of on its first job of each type."""
    from gemsdash.actors.emotions import LexiconEmotionAnalyzer
    from gemsdash.actors.gateway import SandboxGateway
    from gemsdash.actors.protocols import EmailSender, EmotionAnalyzer, PaymentGateway, SketchGenerator
    from gemsdash.actors.sketcher import LineArtSketcher
    from gemsdash.actors.transport import BuiltinSender

    settings = actor_settings()
    plugin(settings.sketch_generator, LineArtSketcher, SketchGenerator)
    plugin(settings.emotion_analyzer, LexiconEmotionAnalyzer, EmotionAnalyzer)
    plugin(settings.email_sender, BuiltinSender, EmailSender)
    plugin(settings.payment_gateway, SandboxGateway, PaymentGateway)


def _import_factory(spec: str) -> Any:
    try:
        factory = import_attribute(spec)
    except ConfigError as exc:
        raise ConfigError(f"{spec}: {exc}") from None
    if not callable(factory):
        module_name, _, attr = spec.partition(":")
        raise ConfigError(f"{spec}: {module_name} has no callable {attr}")
    return factory
