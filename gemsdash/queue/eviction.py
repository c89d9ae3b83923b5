"""Refusing to run on a Redis that may evict keys.

With any `maxmemory-policy` but `noeviction`, Redis at its memory limit deletes keys: job records,
queued messages, payment idempotency entries. Jobs then vanish or run twice, and the counts lie.
Every process that writes checks the policy when it starts, with `INFO memory` (which works where
CONFIG is disabled), and refuses to start on a wrong one unless told otherwise.
"""

from __future__ import annotations

import logging

import redis

from gemsdash.queue.config import Settings
from gemsdash.queue.connection import Client, describe, translate_errors
from gemsdash.queue.errors import ConfigError

logger = logging.getLogger("gemsdash")

FIX = "set `maxmemory-policy noeviction` (redis.conf, or CONFIG SET maxmemory-policy noeviction)"


def check_eviction_policy(client: Client, settings: Settings) -> str | None:
    """The policy Redis reports (None when INFO is refused); raises ConfigError when it may evict
    and GEMSDASH_ALLOW_EVICTION is not true."""
    with translate_errors(settings.display_url, secrets=settings.secrets()):
        try:
            info = client.info("memory")
        except redis.exceptions.NoPermissionError as exc:
            logger.warning(
                "Cannot check Redis's maxmemory-policy (%s); make sure it is noeviction, and grant INFO "
                "to gemsdash's ACL user (+info) so that gemsdash can check it.",
                describe(exc, settings.secrets()),
            )
            return None
    policy = str(info.get("maxmemory_policy", "unknown"))
    if policy == "noeviction":
        return policy
    if settings.allow_eviction:
        logger.warning(
            "Redis maxmemory-policy is %s: at its memory limit Redis deletes job records and queued messages. "
            "Starting anyway (GEMSDASH_ALLOW_EVICTION=true); health reports it until it is noeviction.",
            policy,
        )
        return policy
    raise ConfigError(
        f"Redis maxmemory-policy is {policy}: at its memory limit it would delete job records and queued "
        f"messages; {FIX}, or set GEMSDASH_ALLOW_EVICTION=true to start anyway"
    )
