"""Reading what the benchmark's own Redis did: command counts, server time, CPU and memory.

The benchmark starts its own redis-server, so a delta of its counters between two readings is
exactly what the scenario in between cost, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis


@dataclass(frozen=True)
class ServerReading:
    #: command name -> (calls, usec); counts commands called by Lua scripts as well.
    commands: dict[str, tuple[int, int]]
    cpu_seconds: float
    used_memory: int

    def minus(self, before: ServerReading) -> ServerDelta:
        names = set(self.commands) | set(before.commands)
        calls: dict[str, int] = {}
        usec: dict[str, int] = {}
        for name in names:
            c1, u1 = self.commands.get(name, (0, 0))
            c0, u0 = before.commands.get(name, (0, 0))
            if c1 - c0:
                calls[name] = c1 - c0
                usec[name] = u1 - u0
        return ServerDelta(calls, usec, self.cpu_seconds - before.cpu_seconds, self.used_memory - before.used_memory)


@dataclass
class ServerDelta:
    calls: dict[str, int]
    usec: dict[str, int]
    cpu_seconds: float
    used_memory: int

    def discount(self, name: str, calls: int) -> None:
        """Take out commands the benchmark sent itself, so the figures are the system's alone."""
        if name in self.calls:
            share = self.usec[name] * min(calls, self.calls[name]) // self.calls[name]
            self.calls[name] -= calls
            self.usec[name] -= share

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def script_calls(self) -> int:
        return self.calls.get("evalsha", 0) + self.calls.get("eval", 0)


def read(client: redis.Redis) -> ServerReading:
    stats = client.info("commandstats")
    cpu = client.info("cpu")
    memory = client.info("memory")
    # INFO is the benchmark's own command (neither gemsdash nor Dramatiq calls it): left out.
    commands = {
        name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
        for name, v in stats.items()
        if isinstance(v, dict) and name != "cmdstat_info"
    }
    return ServerReading(
        commands,
        float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
        int(memory["used_memory"]),
    )
