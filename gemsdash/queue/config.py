"""Settings read from the environment and `.env` / `.env.local`.

The variable names are the seed's contract (REDIS_ENABLED, REDIS_HOST, ...); everything gemsdash adds
is prefixed GEMSDASH_. A bad value stops the process with one line naming the variable, because a
stack trace from pydantic is not something an operator should have to read at 3 a.m.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gemsdash.queue.errors import ConfigError
from gemsdash.queue.keys import cluster_namespace, tagged_namespace
from gemsdash.queue.shards import DEFAULT_SHARD, NAME_PATTERN, ShardSpec, parse_shards

#: Dead records outlive finished ones: they wait for a human (Dramatiq's own DLQ keeps 7 days).
DEAD_LETTER_TTL_SECONDS = 7 * 24 * 3600


#: How every gemsdash settings class reads its variables (the queue's, the actors', the HTTP API's).
ENV_SETTINGS = SettingsConfigDict(
    env_file=(".env", ".env.local"),
    env_file_encoding="utf-8",
    extra="ignore",
    case_sensitive=False,
    populate_by_name=True,
    env_ignore_empty=True,
)

S = TypeVar("S", bound=BaseSettings)


class Settings(BaseSettings):
    model_config = ENV_SETTINGS

    redis_enabled: bool = Field(default=False, validation_alias="REDIS_ENABLED")
    redis_host: str = Field(default="localhost", validation_alias="REDIS_HOST")
    redis_port: Annotated[int, Field(ge=1, le=65535)] = Field(default=6379, validation_alias="REDIS_PORT")
    redis_password: SecretStr | None = Field(default=None, validation_alias="REDIS_PASSWORD")
    redis_db: Annotated[int, Field(ge=0)] = Field(default=0, validation_alias="REDIS_DB")
    redis_ttl: Annotated[int, Field(ge=1)] = Field(default=3600, validation_alias="REDIS_TTL")
    redis_url: SecretStr | None = Field(default=None, validation_alias="REDIS_URL")
    redis_fallback: bool = Field(default=True, validation_alias="REDIS_FALLBACK")
    redis_connect_timeout: Annotated[float, Field(gt=0)] = Field(default=2.0, validation_alias="GEMSDASH_REDIS_TIMEOUT")
    #: `{name}` (a Redis Cluster hash tag) keeps every key of the namespace in one slot.
    namespace: str = Field(
        default="gemsdash",
        validation_alias="GEMSDASH_NAMESPACE",
        pattern=r"^(?:[A-Za-z0-9_.-]{1,64}|\{[A-Za-z0-9_.-]{1,64}\})$",
    )
    #: Sentinel: `host:port[,host:port...]`; the data nodes keep REDIS_PASSWORD / REDIS_URL's user and REDIS_DB.
    redis_sentinels: str | None = Field(default=None, validation_alias="REDIS_SENTINELS")
    redis_sentinel_master: str = Field(
        default="mymaster", validation_alias="REDIS_SENTINEL_MASTER", pattern=r"^[A-Za-z0-9_.-]{1,64}$"
    )
    redis_sentinel_password: SecretStr | None = Field(default=None, validation_alias="REDIS_SENTINEL_PASSWORD")
    #: Redis Cluster: `host:port[,host:port...]` of some of its nodes (the rest are discovered).
    redis_cluster_nodes: str | None = Field(default=None, validation_alias="REDIS_CLUSTER_NODES")
    #: Replicas that must hold a job-accepting or job-settling write before it counts as done (WAIT).
    min_replicas: Annotated[int, Field(ge=0, le=16)] = Field(default=0, validation_alias="GEMSDASH_MIN_REPLICAS")
    replica_timeout_ms: Annotated[int, Field(ge=1, le=60_000)] = Field(
        default=1000, validation_alias="GEMSDASH_REPLICA_TIMEOUT_MS"
    )
    #: A worker silent this long is dead: its unfinished jobs go back to their queues.
    worker_timeout_seconds: Annotated[float, Field(gt=0)] = Field(
        default=15.0, validation_alias=AliasChoices("GEMSDASH_WORKER_TIMEOUT", "GEMSDASH_WORKER_TIMEOUT_SECONDS")
    )
    #: Largest accepted payload, as encoded JSON.
    max_payload_bytes: Annotated[int, Field(ge=256)] = Field(
        default=64 * 1024, validation_alias="GEMSDASH_MAX_PAYLOAD_BYTES"
    )
    read_only: bool = Field(default=False, validation_alias="GEMSDASH_READ_ONLY")
    worker_threads: Annotated[int, Field(ge=1, le=256)] = Field(default=4, validation_alias="GEMSDASH_WORKER_THREADS")
    #: A job's `start` folded into its fetch for the messages a worker expects to begin at once
    #: (middleware/early_start.py); off, every job makes its own `start` call as it begins.
    fold_start: bool = Field(default=True, validation_alias="GEMSDASH_FOLD_START")
    #: Start on a Redis whose maxmemory-policy may evict keys (with a WARNING and a health problem).
    allow_eviction: bool = Field(default=False, validation_alias="GEMSDASH_ALLOW_EVICTION")
    #: `{"name": {"url": ..., "queues": [job types]}}`: job types kept on other Redis servers (shards.py).
    shards_map: str | None = Field(default=None, validation_alias="GEMSDASH_SHARDS")
    #: The shard this process serves (`gemsdash worker --shard NAME` sets it for Dramatiq's process).
    shard: str = Field(default=DEFAULT_SHARD, validation_alias="GEMSDASH_SHARD", pattern=NAME_PATTERN)
    #: The settings every shard's are derived from (None: these are them).
    _base: Settings | None = PrivateAttr(default=None)

    @field_validator("redis_url")
    @classmethod
    def _known_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and urlsplit(value.get_secret_value()).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("redis_sentinels", "redis_cluster_nodes")
    @classmethod
    def _addresses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_addresses(value)
        return value

    @field_validator("shards_map")
    @classmethod
    def _shard_map(cls, value: str | None) -> str | None:
        if value is not None:
            parse_shards(value)
        return value

    @model_validator(mode="after")
    def _shards_need_redis(self) -> Settings:
        if self.shards_map is not None and not self.redis_enabled:
            raise ValueError(
                "GEMSDASH_SHARDS needs REDIS_ENABLED=true: memory mode keeps every job in one process, not on shards"
            )
        if self.shard != DEFAULT_SHARD and self.shard not in self.shards:
            raise ValueError(f"GEMSDASH_SHARD names shard {self.shard!r}, which GEMSDASH_SHARDS does not define")
        if any(spec.tag is not None for spec in self.shards.values()) and not self.redis_cluster_nodes:
            raise ValueError(
                "a shard given as a hash tag needs the default Redis to be a Cluster (REDIS_CLUSTER_NODES)"
            )
        return self

    @model_validator(mode="after")
    def _one_topology(self) -> Settings:
        if self.redis_sentinels and self.redis_cluster_nodes:
            raise ValueError("set REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both")
        if self.redis_cluster_nodes:
            # One slot for the namespace, so each script's keys live together on one primary.
            self.namespace = cluster_namespace(self.namespace)
        return self

    @cached_property
    def shards(self) -> dict[str, ShardSpec]:
        """The other shards, by name (empty without GEMSDASH_SHARDS)."""
        return parse_shards(self.shards_map) if self.shards_map else {}

    def shard_names(self) -> list[str]:
        return [DEFAULT_SHARD, *self.shards]

    def shard_of(self, queue: str) -> str:
        """The shard that holds job type `queue`'s jobs."""
        return next((name for name, spec in self.shards.items() if queue in spec.queues), DEFAULT_SHARD)

    def shard_queues(self, name: str) -> list[str]:
        """The job types shard `name` holds (the default shard: every type no other shard names)."""
        from gemsdash.queue.shards import known_types

        return [q for q in known_types() if self.shard_of(q) == name]

    def on_shard(self, name: str) -> Settings:
        """These settings with shard `name`'s connection: what a process serving it connects to."""
        base = self._base or self
        if name == DEFAULT_SHARD:
            return base
        spec = base.shards.get(name)
        if spec is None:
            raise ConfigError(f"no shard {name!r} in GEMSDASH_SHARDS (shards: {', '.join(base.shard_names())})")
        update = {**spec.connection(), "shard": name}
        if update.get("redis_cluster_nodes"):
            update["namespace"] = cluster_namespace(base.namespace)
        if spec.tag is not None:
            update["namespace"] = tagged_namespace(spec.tag, base.namespace)
        copy = base.model_copy(update=update)
        copy._base = base
        return copy

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        return parse_addresses(self.redis_sentinels) if self.redis_sentinels else []

    @property
    def cluster_nodes(self) -> list[tuple[str, int]]:
        return parse_addresses(self.redis_cluster_nodes) if self.redis_cluster_nodes else []

    @property
    def connection_url(self) -> str:
        """The URL to connect with, secrets included: never print it, use `display_url`."""
        if self.redis_url is not None:
            return self.redis_url.get_secret_value()
        auth = ""
        if self.redis_password is not None:
            auth = ":" + quote(self.redis_password.get_secret_value(), safe="") + "@"
        return f"redis://{auth}{self.redis_host}:{self.redis_port}/{self.redis_db}"

    @property
    def display_url(self) -> str:
        if self.redis_sentinels:
            return f"sentinel://{','.join(f'{h}:{p}' for h, p in self.sentinels)}/{self.redis_sentinel_master}"
        if self.redis_cluster_nodes:
            return f"redis-cluster://{','.join(f'{h}:{p}' for h, p in self.cluster_nodes)}"
        return mask_url(self.connection_url)

    @property
    def worker_timeout_ms(self) -> int:
        return int(self.worker_timeout_seconds * 1000)

    def secrets(self) -> list[str]:
        """Every secret value in these settings, in every spelling it may be echoed in."""
        found: list[str] = []
        if self.redis_password is not None:
            found.append(self.redis_password.get_secret_value())
        if self.redis_url is not None:
            found.extend(url_secrets(self.redis_url.get_secret_value()))
        if self.redis_sentinel_password is not None:
            found.append(self.redis_sentinel_password.get_secret_value())
        for spec in self.shards.values():
            if spec.url is not None:
                found.extend(url_secrets(spec.url.get_secret_value()))
        if self._base is not None:  # a shard's settings: the default's secrets are this process's too
            found.extend(self._base.secrets())
        spellings = {form for s in found if s for form in (s, quote(s, safe=""), unquote(s))}
        return sorted(spellings, key=len, reverse=True)


#: Query parameters redis-py accepts that carry secrets.
SECRET_QUERY_KEYS = ("password", "ssl_password")


def parse_addresses(text: str) -> list[tuple[str, int]]:
    """`host:port[,host:port...]` (IPv6 hosts in brackets) as (host, port) pairs."""
    found: list[tuple[str, int]] = []
    for item in (part.strip() for part in text.split(",")):
        host, sep, port = item.rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"expected host:port[,host:port...], got {item!r}")
        found.append((host, int(port)))
    return found


def url_secrets(url: str) -> list[str]:
    parts = urlsplit(url)
    found = [parts.password] if parts.password else []
    found += [v for k, v in parse_qsl(parts.query) if k in SECRET_QUERY_KEYS and v]
    return [s for s in found if s]


def mask_url(url: str) -> str:
    """`redis://user:***@host:port/db`: the password never leaves the process."""
    parts = urlsplit(url)
    query = "&".join(
        f"{k}=***" if k in SECRET_QUERY_KEYS else f"{k}={quote(v, safe='/')}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    netloc = parts.netloc
    if parts.password is not None:
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def read_settings(cls: type[S], **overrides: Any) -> S:
    """Read a settings class, turning a validation failure into one line naming the variable."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        message = first["msg"].removeprefix("Value error, ")  # pydantic's prefix for our own checks
        if not first["loc"]:
            raise ConfigError(f"invalid configuration: {message}") from None
        field = str(first["loc"][0]) if first["loc"] else "?"
        raise ConfigError(f"invalid value for {env_name(cls, field)}: {message}") from None


def env_name(cls: type[BaseSettings], field: str) -> str:
    info = cls.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return field.upper()


def load_settings(**overrides: Any) -> Settings:
    return read_settings(Settings, **overrides)
