"""GEMSDASH_SHARDS: which job types live on which Redis, read and checked once at start-up.

A shard is a name, a connection (a URL, Sentinel or Cluster nodes, or a hash tag on the default
Redis Cluster) and the job types it holds; every type not listed stays on the default Redis. The map
is checked whole before anything connects, so a typo never sends jobs to a Redis nobody serves.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from gemsdash.queue.jobs import QUEUES
from gemsdash.queue.keys import cluster_namespace

#: The shard of every job type not named in GEMSDASH_SHARDS: REDIS_URL / REDIS_HOST ...
DEFAULT_SHARD = "default"
NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,32}$"


def known_types() -> list[str]:
    """Every job type a shard may name (the one place the shard map reads the type list; plugin
    types included once the registry is loaded)."""
    return list(QUEUES)


def unknown_types(shards: dict[str, ShardSpec]) -> str | None:
    """One line naming the first shard with a job type nobody defines, or None. Checked once the
    job types are loaded (runtime.configure), since plugins may define the types a shard names."""
    for name, spec in shards.items():
        for queue in spec.queues:
            if queue not in known_types():
                return f"shard {name!r}: unknown job type {queue!r} (known: {', '.join(known_types())})"
    return None


class ShardSpec(BaseModel):
    """One shard's connection (exactly one of url, sentinels, cluster_nodes, tag) and its types."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr | None = None
    sentinels: str | None = None
    sentinel_master: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    cluster_nodes: str | None = None
    #: A Redis Cluster hash tag: the shard's keys go to the slot of `{tag}` on the default cluster.
    tag: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    queues: list[str] = Field(min_length=1)

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("url must start with redis://, rediss:// or unix://")
        return value

    def connection(self) -> dict[str, Any]:
        """The Settings fields this shard replaces (see config.Settings.on_shard)."""
        chosen = [k for k in ("url", "sentinels", "cluster_nodes", "tag") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError("give exactly one of url, sentinels, cluster_nodes or tag")
        if self.tag is not None:
            return {"namespace": cluster_namespace(self.tag)}
        if self.url is not None:
            return {"redis_url": self.url, "redis_sentinels": None, "redis_cluster_nodes": None}
        if self.cluster_nodes is not None:
            return {"redis_cluster_nodes": self.cluster_nodes, "redis_sentinels": None}
        # Sentinel: the data nodes' user, password and db stay the default's (REDIS_URL / REDIS_PASSWORD).
        fields: dict[str, Any] = {"redis_sentinels": self.sentinels, "redis_cluster_nodes": None}
        if self.sentinel_master is not None:
            fields["redis_sentinel_master"] = self.sentinel_master
        return fields


def parse_shards(text: str) -> dict[str, ShardSpec]:
    """The map GEMSDASH_SHARDS holds, or ValueError with one line naming the shard at fault."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(raw, dict):
        raise ValueError('expected a JSON object {"shard": {"url": ..., "queues": [...]}}')
    found: dict[str, ShardSpec] = {}
    owner: dict[str, str] = {}
    for name, body in raw.items():
        if name == DEFAULT_SHARD or re.fullmatch(NAME_PATTERN, name) is None:
            raise ValueError(f"shard {name!r}: a shard name is 1-32 of A-Z a-z 0-9 _ . - and not {DEFAULT_SHARD!r}")
        try:
            spec = ShardSpec.model_validate(body)
            spec.connection()
        except ValidationError as exc:
            first = exc.errors(include_input=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            raise ValueError(f"shard {name!r}: {where + ': ' if where else ''}{message}") from None
        except ValueError as exc:
            raise ValueError(f"shard {name!r}: {exc}") from None
        for queue in spec.queues:
            if queue in owner:
                raise ValueError(f"shard {name!r}: job type {queue!r} is already on shard {owner[queue]!r}")
            owner[queue] = name
        found[name] = spec
    return found


@dataclass(frozen=True)
class ShardState:
    """Whether a shard answered the last read: what `stats --json` and health report per shard."""

    url: str
    up: bool
    error: str | None

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "up": self.up, "error": self.error}
