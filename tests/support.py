"""Test helpers: polling for an outcome, and private redis-server processes for fault tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Self, TypedDict, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from gemsdash.queue import Backoff, JobRecord, JobState, Priority, get_job
from gemsdash.queue.redis_store import RedisJobStore

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T | Literal[False] | None], timeout: float = 10.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll until `predicate()` is truthy, and return that value (typed without the None or False a
    `lambda: (r := get()) and r.x` gives while waiting); fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = predicate()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)
        last = predicate()
    return last


#: The `cli` fixture (tests/core/conftest.py): `gemsdash ARGS` in a real process, on the test's namespace.
Cli = Callable[..., subprocess.CompletedProcess[str]]


def cli_process_env(redis_url: str, namespace: str) -> dict[str, str]:
    """The whole environment of a `gemsdash` process a test starts: its Redis and namespace, and
    nothing of the developer's."""
    return {"PATH": "/usr/bin:/bin", "REDIS_ENABLED": "true", "REDIS_URL": redis_url, "GEMSDASH_NAMESPACE": namespace}


class JobOptions(TypedDict, total=False):
    """`add_job`'s options as a typed dict, so that `add_job(t, p, **OPTIONS)` type-checks."""

    priority: Priority | str
    delay: int
    attempts: int
    backoff: Backoff | dict[str, Any]


#: Three attempts 50 ms apart: a failing job dies within a test's patience.
FAST_RETRY: JobOptions = {"attempts": 3, "backoff": {"type": "fixed", "delay": 50}}


def state_of(job_id: str) -> JobState | None:
    """The job's state, None when it is gone (deleted, expired) or never was."""
    record = get_job(job_id)
    return record.state if record else None


def wait_for_job(job_id: str, done: Callable[[JobRecord], bool], timeout: float = 10.0) -> JobRecord:
    """Poll the job's record until `done(record)`; the record then."""

    def ready() -> JobRecord | None:
        record = get_job(job_id)
        return record if record is not None and done(record) else None

    return wait_for(ready, timeout=timeout, what=f"job {job_id}")


def text(value: bytes | str) -> str:
    """A value read from Redis (redis-py types its replies as bytes or str) as text."""
    return value.decode() if isinstance(value, bytes) else value


def raw(value: bytes | str) -> bytes:
    """A value read from Redis as the bytes stored."""
    return value if isinstance(value, bytes) else value.encode()


def command(client: redis.Redis, *args: str) -> Any:
    """A raw Redis command (ACL SETUSER, SENTINEL FAILOVER...): redis-py leaves `execute_command`
    unannotated, so the one ignore for it is here."""
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_cluster_port() -> int:
    """A free port P <= 55535 whose cluster bus port P + 10000 is free too."""
    while True:
        port = free_port()
        if port > 55535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


class RedisServer:
    """A redis-server of the test's own on a free loopback port, in a temp dir, stopped by PID."""

    def __init__(self, *extra_args: str, port: int | None = None, directory: Path | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (.ci/run installs it)")
        self.binary = binary
        self.port = port or free_port()
        self.dir = directory or Path(tempfile.mkdtemp(prefix="gemsdash-redis-"))
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "no",
            *self.extra_args,
        ]

    def start(self) -> RedisServer:
        log = open(self.dir / f"redis-{self.port}.log", "ab")  # noqa: SIM115  (the child keeps it)
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)).ping()
                return self
            except redis.AuthenticationError:
                return self
            except redis.ResponseError as exc:
                if "NOAUTH" in str(exc):
                    return self
                raise
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class SentinelServer(RedisServer):
    """A redis-sentinel with a private copy of its config file (sentinels rewrite theirs)."""

    def __init__(self, primary_port: int, master: str = "mymaster", down_after_ms: int = 1000) -> None:
        super().__init__()
        self.primary_port = primary_port
        self.master = master
        self.down_after_ms = down_after_ms

    def command(self) -> list[str]:
        config = self.dir / "sentinel.conf"
        if not config.exists():
            config.write_text(
                f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
                f"sentinel monitor {self.master} 127.0.0.1 {self.primary_port} 2\n"
                f"sentinel down-after-milliseconds {self.master} {self.down_after_ms}\n"
                f"sentinel failover-timeout {self.master} 5000\n"
                f"sentinel parallel-syncs {self.master} 1\n"
            )
        return [self.binary, str(config), "--sentinel"]


class ServerGroup:
    """Servers started together and stopped together by PID; `with` stops them even when starting
    fails half-way (a cluster whose third node never came up)."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SentinelGroup(ServerGroup):
    """A primary, its replica(s) and three sentinels on free loopback ports, each in a private temp dir,
    all stopped by PID. `node(port)` finds a data node by the port Sentinel reports."""

    def __init__(
        self, master: str = "mymaster", down_after_ms: int = 1000, *server_args: str, replicas: int = 1
    ) -> None:
        self.replicas = replicas
        self.master = master
        self.down_after_ms = down_after_ms
        self.server_args = list(server_args)
        self.nodes: list[RedisServer] = []
        self.sentinels: list[SentinelServer] = []

    @property
    def addresses(self) -> str:
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    def start(self) -> SentinelGroup:
        primary = RedisServer(*self.server_args)
        self.nodes = [primary]
        primary.start()
        follow = ("--replicaof", "127.0.0.1", str(primary.port))
        for _ in range(self.replicas):  # one by one, so that stop() finds every node started
            self.nodes.append(RedisServer(*self.server_args, *follow))
            self.nodes[-1].start()
        wait_for(lambda: self.replicas_online(primary.port) == self.replicas, timeout=30, what="the replicas to sync")
        for _ in range(3):
            self.sentinels.append(SentinelServer(primary.port, self.master, self.down_after_ms))
            self.sentinels[-1].start()

        def settled() -> bool:
            for sentinel in self.sentinels:
                info = redis.Redis(port=sentinel.port).sentinel_master(self.master)
                assert isinstance(info, dict), info  # redis-py types the reply as a dict or a bool
                if int(info["num-slaves"]) < self.replicas or int(info["num-other-sentinels"]) < 2:
                    return False
            return True

        wait_for(settled, timeout=60, interval=0.2, what="the sentinels to find the replica and each other")
        return self

    @staticmethod
    def replicas_online(port: int) -> int:
        try:
            info = redis.Redis(port=port, socket_timeout=2).info("replication")
        except redis.ConnectionError:
            return 0
        return sum(
            1 for k, v in info.items() if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online"
        )

    def primary_port(self) -> int:
        """The primary as the sentinels' majority reports it."""
        ports = []
        for sentinel in self.sentinels:
            try:
                address = redis.Redis(port=sentinel.port, socket_timeout=2).sentinel_get_master_addr_by_name(
                    self.master
                )
                assert isinstance(address, tuple), address  # typed as a (host, port) pair or a bool
                ports.append(int(address[1]))
            except redis.ConnectionError:
                continue
        return max(set(ports), key=ports.count)

    def node(self, port: int) -> RedisServer:
        return next(n for n in self.nodes if n.port == port)

    def events(self) -> list[str]:
        """What the sentinels logged of failures and failovers (+sdown, +odown, +switch-master...),
        in time order: a failed fault test shows how many promotions it went through, and of whom."""
        wanted = ("+sdown", "-sdown", "+odown", "+selected-slave", "+promoted-slave", "+switch-master")
        lines: list[tuple[str, str]] = []  # (time of day, line): "pid:X 02 Dec 2026 04:30:01.123 # +sdown ..."
        for sentinel in self.sentinels:
            log = sentinel.dir / f"redis-{sentinel.port}.log"
            text = log.read_text(errors="replace") if log.exists() else ""
            for line in text.splitlines():
                if any(w in line for w in wanted):
                    fields = line.split()
                    lines.append((fields[4] if len(fields) > 4 else "", f"sentinel {sentinel.port}: {line.strip()}"))
        return [line for _, line in sorted(lines)]

    def failover(self) -> None:
        """SENTINEL FAILOVER; returns once the sentinels name the replica as primary."""
        before = self.primary_port()
        command(redis.Redis(port=self.sentinels[0].port), "SENTINEL", "FAILOVER", self.master)
        wait_for(lambda: self.primary_port() != before, timeout=30, interval=0.1, what="the failover")

    def stop(self) -> None:
        for server in [*self.sentinels, *self.nodes]:
            server.stop(signal.SIGKILL)
            shutil.rmtree(server.dir, ignore_errors=True)


class ClusterGroup(ServerGroup):
    """A Redis Cluster of three primaries and three replicas on free loopback ports, each node in a
    private temp dir, made with `redis-cli --cluster create`, all stopped by PID."""

    def __init__(self, node_timeout_ms: int = 1000) -> None:
        self.node_timeout_ms = node_timeout_ms
        self.nodes: list[RedisServer] = []

    @property
    def addresses(self) -> str:
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> ClusterGroup:
        args: tuple[str, ...] = ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
        args += ("--cluster-node-timeout", str(self.node_timeout_ms))
        for _ in range(6):  # one by one, so that stop() finds every node started before a failure
            self.nodes.append(RedisServer(*args, port=free_cluster_port()))
            self.nodes[-1].start()
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is not installed")
        addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "1", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        wait_for(self.healthy, timeout=60, interval=0.2, what="the cluster to be ok with three replicas")
        return self

    def healthy(self) -> bool:
        for node in self.nodes:
            if node.proc is None:
                continue
            try:
                info = redis.Redis(port=node.port, socket_timeout=2).cluster("info")
            except redis.ConnectionError:
                return False
            if info.get("cluster_state") != "ok":
                return False
            role = redis.Redis(port=node.port, socket_timeout=2).info("replication")
            if role["role"] == "master" and SentinelGroup.replicas_online(node.port) < 1:
                return False
        return True

    def owner(self, key: str) -> RedisServer:
        """The primary serving `key`'s slot now."""
        live = next(n for n in self.nodes if n.proc is not None)
        client = redis.Redis(port=live.port, socket_timeout=2)
        slot = int(client.cluster("keyslot", key))
        for start, end, primary, *_ in client.cluster("slots"):
            if start <= slot <= end:
                return next(n for n in self.nodes if n.port == int(primary[1]))
        raise AssertionError(f"no node serves slot {slot}")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop(signal.SIGKILL)
            shutil.rmtree(node.dir, ignore_errors=True)


@contextmanager
def round_trips() -> Iterator[list[int]]:
    """Counts this process's requests to Redis (a pipeline is one) while the block runs."""
    from redis.connection import AbstractConnection

    counter = [0]
    original = AbstractConnection.send_packed_command

    def counting(self: AbstractConnection, command: object, check_health: bool = True) -> None:
        counter[0] += 1
        original(self, command, check_health)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated

    AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]


def another_store(store: object, redis_url: str) -> RedisJobStore:
    """A second RedisJobStore on the same namespace with its own connection: what another process
    (an operator's CLI, a second dashboard) would use."""
    assert isinstance(store, RedisJobStore)
    return RedisJobStore(
        redis.Redis.from_url(redis_url),
        namespace=store.namespace,
        finished_ttl=store.finished_ttl,
        dead_ttl=store.dead_ttl,
        worker_timeout_ms=store.worker_timeout_ms,
        display_url=redis_url,
    )
