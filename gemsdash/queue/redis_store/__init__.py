"""Redis implementation of the job-state store."""

from gemsdash.queue.redis_store.store import RedisJobStore

__all__ = ["RedisJobStore"]
