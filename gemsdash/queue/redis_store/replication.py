"""Writes that count as done only once GEMSDASH_MIN_REPLICAS replicas hold them.

Redis replicates asynchronously: a write the primary accepted can vanish in a failover, with no
trace. `WAIT n timeout`, sent after the write on the same connection, returns how many replicas
acknowledged everything that connection wrote so far. It is refused inside Lua and answers at once
inside MULTI, so it follows the script call (or the EXEC) in the same pipeline: one round trip, and
with GEMSDASH_MIN_REPLICAS=0 none of this runs at all.

Every write sent this way is idempotent (a submit skips ids it already has, a finish or an admin
action checks the job's state, the ledger its idempotency key): a connection that failed before its
reply came is retried on a fresh one, which with Sentinel asks the sentinels for the primary again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.connection import AbstractConnection, Connection, ConnectionPool
from redis.sentinel import SentinelConnectionPool

from gemsdash.queue.errors import NotReplicated

#: What a Cluster answers while a primary's slots move to its replica.
CLUSTER_TRANSIENT = (
    redis.exceptions.MovedError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.SlotNotCoveredError,
)

#: Attempts of a replicated write whose connection failed (a failover in progress), and the pauses.
ATTEMPTS = 4
PAUSES_S = (0.1, 0.3, 0.8)

Command = tuple[Any, ...]


def _errors(commands: Sequence[Command], replies: list[Any]) -> list[redis.exceptions.ResponseError]:
    """Error replies, including those inside an EXEC's reply (a script Redis lost fails there,
    each command of the transaction with its own error, while EXEC itself succeeds)."""
    found: list[redis.exceptions.ResponseError] = []
    for command, reply in zip(commands, replies, strict=False):
        if isinstance(reply, redis.exceptions.ResponseError):
            found.append(reply)
        elif command[0] == "EXEC" and isinstance(reply, list):
            found += [r for r in reply if isinstance(r, redis.exceptions.ResponseError)]
    return found


class Replicated:
    """Runs a batch of write commands followed by WAIT on one connection; raises NotReplicated when
    fewer than `wanted` replicas acknowledged it within `timeout_ms`."""

    def __init__(self, client: redis.Redis | RedisCluster, key: str, wanted: int, timeout_ms: int) -> None:
        self.client = client
        #: A key of the namespace: on a Cluster, the primary owning its slot is where the writes go.
        self.key = key
        self.wanted = wanted
        self.timeout_ms = timeout_ms

    def exchange(
        self, conn: AbstractConnection, what: str, commands: Sequence[Command], scripts: dict[str, str] | None = None
    ) -> list[Any]:
        """Send `commands` + WAIT in one round trip on `conn` and read every reply. A script Redis lost
        (NOSCRIPT) is loaded from `scripts` (sha -> source) and the batch sent once more. A connection
        error disconnects `conn` (so its next use reconnects, through Sentinel when it is managed)."""
        try:
            replies = self._send(conn, commands)
            if scripts and any(isinstance(e, redis.exceptions.NoScriptError) for e in _errors(commands, replies)):
                for source in scripts.values():
                    conn.send_command("SCRIPT", "LOAD", source)  # type: ignore[no-untyped-call]
                    conn.read_response()
                replies = self._send(conn, commands)
        except (redis.ConnectionError, redis.TimeoutError):
            conn.disconnect()  # type: ignore[no-untyped-call]
            raise
        acked = replies.pop()
        for error in _errors(commands, replies):
            raise error
        if isinstance(acked, redis.exceptions.ResponseError):
            raise acked
        if int(acked) < self.wanted:
            raise NotReplicated(what, int(acked), self.wanted, self.timeout_ms)
        return replies

    def _send(self, conn: AbstractConnection, commands: Sequence[Command]) -> list[Any]:
        batch = [*commands, ("WAIT", self.wanted, self.timeout_ms)]
        conn.send_packed_command(conn.pack_commands(batch))  # type: ignore[no-untyped-call]
        replies: list[Any] = []
        for i in range(len(batch)):
            # The WAIT reply may take the whole replica timeout on top of the socket's own.
            timeout = (conn.socket_timeout or 5.0) + self.timeout_ms / 1000 if i == len(batch) - 1 else None
            try:
                if timeout is None:
                    replies.append(conn.read_response())
                else:
                    replies.append(conn.read_response(timeout=timeout))
            except redis.exceptions.ResponseError as exc:
                replies.append(exc)
        return replies

    def run(self, what: str, commands: Sequence[Command], scripts: dict[str, str] | None = None) -> list[Any]:
        """`exchange` on a pooled connection of the primary, retried on a fresh connection while a
        failover is in progress (up to about a second and a half)."""
        moved = False
        for attempt in range(ATTEMPTS):
            pool = self._pool()
            conn: Connection | None = None
            try:
                conn = pool.get_connection()
                return self.exchange(conn, what, commands, scripts)
            except NotReplicated:
                # On the old primary after a planned failover (it accepts writes until Sentinel
                # demotes it, about 10 s later, but its replica is gone): go to the new one now.
                # On the new one, Sentinel may not have attached the other replicas yet: wait a
                # moment and send again (every replicated write is safe to repeat).
                if attempt == ATTEMPTS - 1 or conn is None:
                    raise
                # A sentinel asked a moment after a failover can still name the old primary: one
                # more try before the write is reported unconfirmed.
                if self.primary_moved(conn):
                    moved = True
                elif moved or attempt == 0:
                    time.sleep(PAUSES_S[min(attempt, len(PAUSES_S) - 1)])
                else:
                    raise
            except (redis.ConnectionError, redis.TimeoutError, *CLUSTER_TRANSIENT):
                if attempt == ATTEMPTS - 1:
                    raise
                time.sleep(PAUSES_S[min(attempt, len(PAUSES_S) - 1)])
                if isinstance(self.client, RedisCluster):
                    with suppress(redis.exceptions.RedisClusterException, redis.ConnectionError):
                        self.client.nodes_manager.initialize()  # learn the slot's new primary
            finally:
                if conn is not None:
                    pool.release(conn)
        raise AssertionError("unreachable")

    def primary_moved(self, conn: AbstractConnection) -> bool:
        """With Sentinel: whether the sentinels now name another primary than `conn` talks to (the
        pool then drops its idle connections, and the next connection goes to the new one)."""
        if isinstance(self.client, RedisCluster):
            return False
        pool = self.client.connection_pool
        if not isinstance(pool, SentinelConnectionPool):
            return False
        try:
            host, port = pool.get_master_address()  # type: ignore[no-untyped-call]
        except redis.ConnectionError:  # no sentinel answers, or none knows a primary
            return False
        here = (getattr(conn, "host", None), getattr(conn, "port", None))
        return here != (host, int(port))

    def _pool(self) -> ConnectionPool:
        if isinstance(self.client, RedisCluster):
            node = self.client.get_node_from_key(self.key)  # type: ignore[no-untyped-call]
            pool: ConnectionPool = self.client.get_redis_connection(node).connection_pool
            return pool
        return self.client.connection_pool
