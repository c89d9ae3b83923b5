"""The job-type registry: which job types exist, and everything gemsdash knows of each.

A job type is one module calling `define_job_type` (its name, payload model, handler, defaults,
example payload); the registry loads the built-ins, then the modules named by `GEMSDASH_JOB_TYPES`
and the entry-point group `gemsdash.job_types`, the first time anything asks which types exist.
Every other part (producer, actors, CLI, dashboard, HTTP API, metrics) reads the types from here,
so a new type touches nothing else. Modules are named by strings, so this layer never imports the
job code: the job code imports it.

A broken plugin (cannot be imported, defines a name twice, or an invalid definition) raises
InvalidJobType, one line naming it, which stops every process at start-up like any configuration error.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings

from gemsdash.queue.config import ENV_SETTINGS, read_settings
from gemsdash.queue.errors import ConfigError, InvalidPayload
from gemsdash.queue.importing import import_attribute
from gemsdash.queue.jobs import (
    MAX_ATTEMPTS,
    Backoff,
    JobOptions,
    JobType,
    Priority,
    printable,
    validation_errors,
)
from gemsdash.queue.payloads import Payload, RawCardNumber, TooDeep, camel_spellings, find_card_number, plain_flat
from gemsdash.queue.redaction import register_secret_fields
from gemsdash.queue.visible import find_invalid_text

#: The built-in types, loaded like any plugin (by name: this layer does not import the job code).
BUILTIN_JOB_TYPES = (
    "gemsdash.actors.sketch:JOB_TYPE",
    "gemsdash.actors.emotion:JOB_TYPE",
    "gemsdash.actors.email:JOB_TYPE",
    "gemsdash.actors.payment:JOB_TYPE",
)
ENV_VAR = "GEMSDASH_JOB_TYPES"
ENTRY_POINT_GROUP = "gemsdash.job_types"

#: A name is also its queue's and (with `_` for `-`) its actor's: lower-case words joined by `-`.
#: No `.`: Dramatiq and gemsdash add `.DQ`, `.XQ` and `.high` to queue names.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
MAX_NAME_CHARS = 64
_SOURCE_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class JobTypeSettings(BaseSettings):
    """`GEMSDASH_JOB_TYPES`, read like every other setting (the environment, `.env`, `.env.local`)."""

    model_config = ENV_SETTINGS

    job_types: str = Field(default="", validation_alias=ENV_VAR)


class InvalidJobType(ConfigError):
    """A job type that cannot be used: one line naming it (and the plugin it came from)."""


@dataclass(frozen=True)
class JobTypeDefinition:
    """One job type: what `define_job_type` returns and the registry holds."""

    name: str
    payload_model: type[Payload]
    handler: Callable[[Any], Any]
    priority: Priority
    attempts: int
    backoff: Backoff
    time_limit_ms: int
    example: dict[str, Any] | None
    #: Payload fields masked wherever a payload is shown (marked `json_schema_extra={"secret": True}`).
    secret_fields: frozenset[str]
    description: str
    #: Where the registry loaded it from (`module:attribute`), for error messages.
    source: str = ""

    @property
    def job_type(self) -> JobType:
        return JobType.unchecked(self.name)

    def options(
        self,
        *,
        priority: Priority | str | None = None,
        delay: int | None = None,
        attempts: int | None = None,
        backoff: Backoff | dict[str, Any] | None = None,
    ) -> JobOptions:
        """This type's defaults with the caller's overrides, validated."""
        if priority is None and not delay and attempts is None and backoff is None:
            return self.default_options
        try:
            return JobOptions(
                priority=Priority(priority) if priority is not None else self.priority,
                delay=delay or 0,
                attempts=attempts if attempts is not None else self.attempts,
                backoff=Backoff.model_validate(backoff) if backoff is not None else self.backoff,
            )
        except ValidationError as exc:
            raise InvalidPayload(self.name, validation_errors(exc)) from None
        except ValueError as exc:
            raise InvalidPayload(self.name, [("priority", str(exc))]) from None

    @cached_property
    def default_options(self) -> JobOptions:
        return JobOptions(priority=self.priority, attempts=self.attempts, backoff=self.backoff)

    def validate_payload(self, payload: Any) -> Payload:
        """The payload as its model, or InvalidPayload naming each wrong field."""
        if isinstance(payload, self.payload_model):
            payload = payload.model_dump()
        if plain_flat(payload):
            return self._model(payload)
        try:
            card_field = find_card_number(payload)
        except TooDeep as exc:
            raise InvalidPayload(self.name, [(printable(exc.path), str(exc))]) from None
        if card_field is not None:
            raise InvalidPayload(self.name, [(printable(card_field), str(RawCardNumber(card_field)))])
        bad_text = find_invalid_text(payload)
        if bad_text is not None:  # stored, it would break every reader that encodes it as UTF-8
            raise InvalidPayload(self.name, [(printable(bad_text), "is not valid Unicode (a lone surrogate)")])
        return self._model(payload)

    def _model(self, payload: Any) -> Payload:
        try:
            return self.payload_model.model_validate(payload)
        except ValidationError as exc:
            raise InvalidPayload(self.name, validation_errors(exc)) from None


#: The name the rest of the code base knew a definition by.
JobSpec = JobTypeDefinition


def define_job_type(
    name: str,
    *,
    payload: type[Payload],
    handler: Callable[[Any], Any],
    priority: Priority | str = "normal",
    attempts: int = 3,
    backoff: Backoff | dict[str, Any] | None = None,
    time_limit_ms: int = 30_000,
    example: dict[str, Any] | None = None,
    description: str | None = None,
) -> JobTypeDefinition:
    """A job type's definition, checked whole (InvalidJobType names what is wrong).

    `payload` is a `gemsdash.Payload` subclass (strict, unknown fields refused, camelCase spellings
    accepted); `handler(payload)` returns the job's JSON-serialisable result. Registering is the
    registry's job: a module defines its type and the registry loads it (see the module docstring).
    """
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS or not NAME_PATTERN.match(name):
        raise InvalidJobType(
            f"job type name {name!r}: use lower-case letters and digits in words joined by '-' "
            f"(at most {MAX_NAME_CHARS} characters), e.g. 'pdf-render'"
        )

    def invalid(reason: str) -> InvalidJobType:
        return InvalidJobType(f"job type {name!r}: {reason}")

    if not (isinstance(payload, type) and issubclass(payload, Payload)):
        raise invalid(f"payload must be a gemsdash.Payload subclass, not {payload!r}")
    if not callable(handler):
        raise invalid(f"handler must be callable, not {type(handler).__name__}")
    try:
        level = Priority(priority)
    except ValueError:
        raise invalid(f"priority {priority!r} is not one of {', '.join(p.value for p in Priority)}") from None
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= MAX_ATTEMPTS:
        raise invalid(f"attempts must be a whole number from 1 to {MAX_ATTEMPTS}, not {attempts!r}")
    if isinstance(time_limit_ms, bool) or not isinstance(time_limit_ms, int) or time_limit_ms < 1:
        raise invalid(f"time_limit_ms must be a positive whole number of milliseconds, not {time_limit_ms!r}")
    try:
        retry_backoff = Backoff() if backoff is None else Backoff.model_validate(backoff)
    except ValidationError as exc:
        raise invalid("backoff: " + "; ".join(f"{f} {m}" for f, m in validation_errors(exc))) from None
    definition = JobTypeDefinition(
        name=name,
        payload_model=payload,
        handler=handler,
        priority=level,
        attempts=attempts,
        backoff=retry_backoff,
        time_limit_ms=time_limit_ms,
        example=dict(example) if example is not None else None,
        secret_fields=secret_fields(payload),
        description=description or _first_line(handler.__doc__) or _first_line(payload.__doc__) or name,
    )
    if example is not None:
        try:
            definition.validate_payload(example)
        except InvalidPayload as exc:
            raise invalid(f"the example payload is not valid: {exc}") from None
    return definition


def secret_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields marked `json_schema_extra={"secret": True}`, nested models' too, in both spellings."""
    found: set[str] = set()
    for field_name, info in model.model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, dict) and extra.get("secret") is True:
            found.update(camel_spellings(field_name))
        nested = info.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel) and nested is not model:
            found.update(secret_fields(nested))
    return frozenset(found)


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0].rstrip(".")


# -- the registry ------------------------------------------------------------------------------------

_lock = threading.RLock()
_types: dict[str, JobTypeDefinition] = {}
_loaded = False
_loading = False


def load() -> Mapping[str, JobTypeDefinition]:
    """Load every job type (once per process), or raise InvalidJobType naming the broken plugin."""
    global _loaded, _loading, _types
    with _lock:
        if _loaded:
            return _types
        if _loading:
            raise InvalidJobType("a job type module asked for the job types while they were being loaded")
        _loading = True
        try:
            found: dict[str, JobTypeDefinition] = {}
            for source in sources():
                definition = _import(source)
                previous = found.get(definition.name)
                if previous is not None:
                    already = f"job type {definition.name!r} is already defined by {previous.source}"
                    raise InvalidJobType(f"job type plugin {source}: {already}")
                found[definition.name] = replace(definition, source=source)
        finally:
            _loading = False
        for definition in found.values():
            register_secret_fields(*definition.secret_fields)
        _types, _loaded = found, True
        return _types


def sources() -> list[str]:
    """`module:attribute` of every job type: the built-ins, then `GEMSDASH_JOB_TYPES`, then entry points."""
    listed = read_settings(JobTypeSettings).job_types
    configured = [s.strip() for s in listed.split(",") if s.strip()]
    for source in configured:
        if not _SOURCE_PATTERN.match(source):
            raise InvalidJobType(f"{ENV_VAR}: {source!r} is not module:attribute")
    plugins = [ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)]
    return list(dict.fromkeys([*BUILTIN_JOB_TYPES, *configured, *plugins]))


def _import(source: str) -> JobTypeDefinition:
    try:
        definition = import_attribute(source)
    except ConfigError as exc:
        raise InvalidJobType(f"job type plugin {source}: {exc}") from None
    if not isinstance(definition, JobTypeDefinition):
        what = "nothing" if definition is None else f"a {type(definition).__name__}"
        attribute = source.partition(":")[2]
        raise InvalidJobType(f"job type plugin {source}: {attribute} is {what}, not a gemsdash.define_job_type(...)")
    return definition


def definitions() -> Mapping[str, JobTypeDefinition]:
    return _types if _loaded else load()


def registered_names() -> tuple[str, ...]:
    return tuple(definitions())


def spec_for(name: str | JobType) -> JobTypeDefinition:
    """The definition of a registered type; UnknownJobType otherwise."""
    return definitions()[JobType(name)]


def reset() -> None:
    """Forget the loaded types, so the next use reloads them (tests change GEMSDASH_JOB_TYPES)."""
    global _loaded, _types
    with _lock:
        _types, _loaded = {}, False


class _Specs(Mapping[JobType, JobTypeDefinition]):
    """Every registered definition by type, read when used (`JOB_SPECS`, as the code base knew it)."""

    def __getitem__(self, name: JobType) -> JobTypeDefinition:
        return definitions()[name]

    def __iter__(self) -> Iterator[JobType]:
        return iter(JobType)

    def __len__(self) -> int:
        return len(definitions())


JOB_SPECS: Mapping[JobType, JobTypeDefinition] = _Specs()
