"""The Redis side of schedules: each change one `jobs.lua` call, each read one call.

A mixin of RedisJobStore, kept apart so that the job store stays about jobs; the keys are named
with the others, in `jobs.lua`'s header.
"""

from __future__ import annotations

from typing import Any

from gemsdash.queue.connection import Client, translate_errors
from gemsdash.queue.store import StoredSchedule, Submission, Verdict

#: Schedules read per `sched_list` call: about a millisecond of Redis's time each.
LIST_PAGE = 100

#: The fields `sched_list` returns per schedule, in order.
_FIELDS = ("name", "definition", "next", "paused", "last_tick", "last_at", "last_job", "fired", "missed", "last_state")


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _int(value: Any) -> int | None:
    return int(float(value)) if value not in (None, b"", "", False) else None


class RedisSchedules:
    """Needs the host store's `_call`, `_queue_call`, `_execute`, `_submission_args`, `client`,
    `display_url` and `_secrets`."""

    client: Client
    display_url: str
    _secrets: list[str]

    def _call(self, command: str, *args: Any) -> Any:
        raise NotImplementedError

    def _queue_call(self, pipe: Any, command: str, *args: Any) -> None:
        raise NotImplementedError

    def _execute(self, pipe: Any) -> list[Any]:
        raise NotImplementedError

    def _submission_args(self, sub: Submission, now: int) -> list[Any]:
        raise NotImplementedError

    @staticmethod
    def _verdict(reply: Any) -> Verdict:
        return Verdict(str(_text(reply)))

    def schedule_add(self, name: str, definition: str, gen: str, next_ms: int | None, audit: str) -> Verdict:
        from gemsdash.queue.schedules import MAX_SCHEDULES

        following = "" if next_ms is None else str(next_ms)
        return self._verdict(self._call("sched_add", name, definition, gen, following, MAX_SCHEDULES, audit))

    def schedule_remove(self, name: str, audit: str) -> Verdict:
        return self._verdict(self._call("sched_remove", name, audit))

    def schedule_pause(self, name: str, audit: str) -> Verdict:
        return self._verdict(self._call("sched_pause", name, audit))

    def schedule_resume(self, name: str, gen: str, next_ms: int | None, audit: str) -> Verdict:
        following = "" if next_ms is None else str(next_ms)
        return self._verdict(self._call("sched_resume", name, gen, following, audit))

    def schedule_run(self, name: str, gen: str, submission: Submission, tick_ms: int, audit: str) -> Verdict:
        args = self._submission_args(submission, tick_ms)
        return self._verdict(self._call("sched_run", name, gen, audit, *args, tick_ms))

    def schedule_list(self, name: str | None = None) -> tuple[int, list[StoredSchedule]]:
        """One schedule, or all of them: the first page, then every other page in one pipeline
        (two round trips at most), each page one bounded script call."""
        if name is not None:
            reply = self._call("sched_get", name)
            return int(reply[0]), self._rows(reply[2:])
        first = self._call("sched_list", 0, LIST_PAGE)
        found = self._rows(first[2:])
        total = int(first[1])
        if total > LIST_PAGE:
            with translate_errors(self.display_url, secrets=self._secrets):
                pipe = self.client.pipeline(transaction=False)
                for offset in range(LIST_PAGE, total, LIST_PAGE):
                    self._queue_call(pipe, "sched_list", offset, LIST_PAGE)
                for reply in self._execute(pipe):
                    found += self._rows(reply[2:])
        return int(first[0]), found

    @staticmethod
    def _rows(rows: list[Any]) -> list[StoredSchedule]:
        found: list[StoredSchedule] = []
        width = len(_FIELDS)
        for at in range(0, len(rows), width):
            row = dict(zip(_FIELDS, (_text(v) for v in rows[at : at + width]), strict=True))
            for key in ("next", "last_tick", "last_at", "fired", "missed"):
                row[key] = _int(row[key])
            row["paused"] = row["paused"] == "1"
            found.append(row)
        return found

    def schedules_due(self, limit: int) -> tuple[int, list[StoredSchedule], int | None]:
        reply = self._call("sched_due", limit)
        due = [
            {"name": _text(reply[i]), "definition": _text(reply[i + 1]), "next": int(reply[i + 2])}
            for i in range(2, len(reply), 3)
        ]
        return int(reply[0]), due, _int(reply[1])

    def schedule_fire(
        self,
        name: str,
        gen: str,
        expected_ms: int,
        next_ms: int | None,
        missed: int,
        submissions: list[Submission],
        ticks: list[int],
    ) -> Verdict:
        args: list[Any] = [name, gen, str(expected_ms), "" if next_ms is None else str(next_ms), missed]
        for sub, tick in zip(submissions, ticks, strict=True):
            args += [*self._submission_args(sub, tick), tick]
        return self._verdict(self._call("sched_fire", *args))
