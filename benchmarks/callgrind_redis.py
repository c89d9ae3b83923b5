"""A redis-server under valgrind's callgrind, for the benchmarks that count the instructions Redis
runs for gemsdash's calls (user space only: the same on every run, whatever else the machine does).
Counting starts switched off; `instrument()` turns it on around what is measured, `dump(name)`
closes a part, and `totals(n)` reads the n-th dump's instruction count."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis


@dataclass
class Callgrind:
    client: redis.Redis
    pid: int
    out: Path

    def control(self, *args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(self.pid)], capture_output=True, check=True)

    def instrument(self, on: bool) -> None:
        self.control("-i", "on" if on else "off")

    def dump(self, name: str) -> None:
        self.control("-d", name)

    def totals(self, dump: int) -> int:
        """Instructions counted in the `dump`-th dump (1-based), once the server has stopped."""
        path = Path(f"{self.out}.{dump}")
        for line in path.read_text().splitlines():
            if line.startswith("totals:"):
                return int(line.split()[1])
        raise ValueError(f"no totals in {path}")


@contextmanager
def callgrind_redis(port: int, prefix: str) -> Iterator[Callgrind]:
    """The server, ready for commands; it is shut down (without saving) when the block ends, so its
    dumps are complete afterwards."""
    out = Path(tempfile.mkdtemp(prefix=prefix)) / "callgrind.out"
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    server = subprocess.Popen(
        [*valgrind, "redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port)
        for _ in range(300):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.2)
        yield Callgrind(client, server.pid, out)
        client.shutdown(nosave=True)
    finally:
        server.wait(timeout=60)
