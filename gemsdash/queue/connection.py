"""Opening the Redis connection, with timeouts bounded so an outage is an error, not a hang."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from gemsdash.queue.config import Settings, mask_url
from gemsdash.queue.errors import BackendUnavailable


class TransientRetry(Retry):
    """Retries dropped connections and timeouts, but not refused credentials: redis-py's
    AuthenticationError is a ConnectionError, and retrying it only delays a clear error."""

    def call_with_retry(self, do: Any, fail: Any, is_retryable: Any = None, with_failure_count: bool = False) -> Any:
        def retryable(error: Exception) -> bool:
            if isinstance(error, redis.AuthenticationError):
                return False
            return is_retryable(error) if is_retryable is not None else True

        return super().call_with_retry(do, fail, retryable, with_failure_count)


def connect(settings: Settings) -> redis.Redis:
    """A client for the configured Redis; raises BackendUnavailable when it does not answer PING."""
    client = redis.Redis.from_url(
        settings.connection_url,
        socket_connect_timeout=settings.redis_connect_timeout,
        socket_timeout=max(settings.redis_connect_timeout, 5.0),
        health_check_interval=15,
        retry=TransientRetry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )
    with translate_errors(settings.display_url, secrets=settings.secrets()):
        client.ping()
    return client


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
    except redis.ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            raise BackendUnavailable(
                f"Redis at {mask_url(url)} refused the credentials: {describe(exc, secrets or [])}"
            ) from None
        raise BackendUnavailable(f"Redis at {mask_url(url)} refused: {describe(exc, secrets or [])}") from None
