"""Opening the Redis connection, with timeouts bounded so an outage is an error, not a hang."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeAlias
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

from gemsdash.queue.config import Settings, mask_url
from gemsdash.queue.errors import BackendUnavailable, ConfigError


class TransientRetry(Retry):
    """Retries dropped connections and timeouts, but not refused credentials: redis-py's
    AuthenticationError is a ConnectionError, and retrying it only delays a clear error."""

    def call_with_retry(self, do: Any, fail: Any, is_retryable: Any = None, with_failure_count: bool = False) -> Any:
        def retryable(error: Exception) -> bool:
            if isinstance(error, redis.AuthenticationError):
                return False
            return is_retryable(error) if is_retryable is not None else True

        return super().call_with_retry(do, fail, retryable, with_failure_count)


#: A single Redis (plain or Sentinel-managed) or a Redis Cluster.
Client: TypeAlias = "redis.Redis | RedisCluster"


def connect(settings: Settings) -> Client:
    """A client for the configured Redis; raises BackendUnavailable when it does not answer PING.

    With Sentinel the client's pool asks the sentinels for the primary on every new connection and
    drops a connection that finds a demoted primary (READONLY), so every process follows a failover
    by itself; with Cluster, redis-py follows MOVED redirections and refreshes its slot map."""
    timeouts: dict[str, Any] = {
        "socket_connect_timeout": settings.redis_connect_timeout,
        "socket_timeout": max(settings.redis_connect_timeout, 5.0),
    }
    client: Client
    with translate_errors(settings.display_url, secrets=settings.secrets()):
        if settings.redis_sentinels:
            client = _sentinel_client(settings, timeouts)
        elif settings.redis_cluster_nodes:
            client = _cluster_client(settings, timeouts)
        else:
            client = redis.Redis.from_url(settings.connection_url, **timeouts, **_retrying())
        client.ping()
    return client


def _retrying() -> dict[str, Any]:
    return {
        "health_check_interval": 15,
        "retry": TransientRetry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
    }


def _data_node_auth(settings: Settings) -> dict[str, Any]:
    """User, password and db of the data nodes, from REDIS_URL or REDIS_PASSWORD / REDIS_DB."""
    parts = urlsplit(settings.connection_url)
    auth: dict[str, Any] = {
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
    }
    db = parts.path.strip("/")
    auth["db"] = int(db) if db.isdigit() else settings.redis_db
    return auth


def _sentinel_client(settings: Settings, timeouts: dict[str, Any]) -> redis.Redis:
    secret = settings.redis_sentinel_password
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        settings.sentinels,
        sentinel_kwargs={**timeouts, "password": secret.get_secret_value() if secret is not None else None},
        **timeouts,
    )
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        settings.redis_sentinel_master, **_data_node_auth(settings), **_retrying()
    )
    return client


def _cluster_client(settings: Settings, timeouts: dict[str, Any]) -> RedisCluster:
    auth = _data_node_auth(settings)
    if auth.pop("db"):
        raise ConfigError("REDIS_DB must be 0 with REDIS_CLUSTER_NODES: a Redis Cluster has one database")
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in settings.cluster_nodes],  # type: ignore[no-untyped-call]
        # Rediscover the slots from the configured nodes: redis-py's default makes the discovered
        # nodes the startup nodes, in the same dict as its node cache, and a worker that lost the
        # namespace's primary was seen with only that dead node left to ask.
        dynamic_startup_nodes=False,
        **auth,
        **timeouts,
    )


def primary_address(client: Client) -> str | None:
    """`host:port` of the node this client writes to now (Sentinel or Cluster); None for a plain Redis,
    whose address is in the URL. Asks no server: it reads what the client last learned."""
    if isinstance(client, RedisCluster):
        return None
    pool = client.connection_pool
    if isinstance(pool, redis.sentinel.SentinelConnectionPool):
        master = pool.proxy.master_address
        return f"{master[0]}:{master[1]}" if master else None
    return None


def describe(exc: BaseException, secrets: list[str]) -> str:
    """One line about a Redis failure with every known secret masked."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


@contextmanager
def translate_errors(url: str, *, secrets: list[str] | None = None) -> Iterator[None]:
    """Redis client errors become BackendUnavailable naming the (masked) URL."""
    try:
        yield
    except redis.AuthenticationError as exc:
        raise BackendUnavailable(
            f"Redis at {mask_url(url)} refused the credentials: {describe(exc, secrets or [])}"
        ) from None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise BackendUnavailable(f"Redis unreachable at {mask_url(url)}: {describe(exc, secrets or [])}") from None
    except redis.exceptions.OutOfMemoryError as exc:
        raise BackendUnavailable(
            f"Redis at {mask_url(url)} is out of memory (maxmemory reached): {describe(exc, secrets or [])}"
        ) from None
    except (redis.exceptions.RedisClusterException, redis.exceptions.ClusterError) as exc:
        # No reachable node, or the slot's primary is being replaced (CLUSTERDOWN, TRYAGAIN).
        raise BackendUnavailable(
            f"Redis Cluster unavailable at {mask_url(url)}: {describe(exc, secrets or [])}"
        ) from None
    except redis.ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            raise BackendUnavailable(
                f"Redis at {mask_url(url)} refused the credentials: {describe(exc, secrets or [])}"
            ) from None
        raise BackendUnavailable(f"Redis at {mask_url(url)} refused: {describe(exc, secrets or [])}") from None
