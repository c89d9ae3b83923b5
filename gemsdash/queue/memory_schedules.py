"""The memory store's schedules: the same contract as the `sched_*` commands of `jobs.lua`, under
the store's one lock. Like every job in memory mode, they live and die with the process."""

from __future__ import annotations

from gemsdash.queue.jobs import now_ms
from gemsdash.queue.store import StoredJob, StoredSchedule, Submission, Verdict
from gemsdash.queue.unfair_lock import UnfairRLock


class MemorySchedules:
    """Needs the host store's `_lock`, `_load`, `submit` and `audit`."""

    _lock: UnfairRLock
    _schedule_table: dict[str, StoredSchedule]

    def _schedules(self) -> dict[str, StoredSchedule]:
        table: dict[str, StoredSchedule] | None = getattr(self, "_schedule_table", None)
        if table is None:
            table = {}
            self._schedule_table = table
        return table

    def _load(self, job_id: str) -> StoredJob | None:
        raise NotImplementedError

    def submit(self, submissions: list[Submission]) -> None:
        raise NotImplementedError

    def audit(self, entry: str) -> None:
        raise NotImplementedError

    def schedule_add(self, name: str, definition: str, gen: str, next_ms: int | None, audit: str) -> Verdict:
        from gemsdash.queue.schedules import MAX_SCHEDULES

        with self._lock:
            table = self._schedules()
            if name in table:
                return Verdict.EXISTS
            if len(table) >= MAX_SCHEDULES:
                return Verdict.FULL
            table[name] = {
                "name": name,
                "definition": definition,
                "gen": gen,
                "next": next_ms,
                "paused": False,
                "last_tick": None,
                "last_at": None,
                "last_job": None,
                "fired": 0,
                "missed": 0,
            }
            self.audit(audit)
            return Verdict.OK

    def schedule_remove(self, name: str, audit: str) -> Verdict:
        with self._lock:
            if self._schedules().pop(name, None) is None:
                return Verdict.MISSING
            self.audit(audit)
            return Verdict.OK

    def schedule_pause(self, name: str, audit: str) -> Verdict:
        with self._lock:
            entry = self._schedules().get(name)
            if entry is None:
                return Verdict.MISSING
            if entry["paused"]:
                return Verdict.UNCHANGED
            entry["paused"] = True
            self.audit(audit)
            return Verdict.OK

    def schedule_resume(self, name: str, gen: str, next_ms: int | None, audit: str) -> Verdict:
        with self._lock:
            entry = self._schedules().get(name)
            if entry is None or entry["gen"] != gen:
                return Verdict.MISSING
            if not entry["paused"]:
                return Verdict.UNCHANGED
            entry.update(paused=False, next=next_ms)
            self.audit(audit)
            return Verdict.OK

    def schedule_run(self, name: str, gen: str, submission: Submission, tick_ms: int, audit: str) -> Verdict:
        with self._lock:
            entry = self._schedules().get(name)
            if entry is None or entry["gen"] != gen:
                return Verdict.MISSING
            self.submit([submission])
            entry.update(last_tick=tick_ms, last_at=now_ms(), last_job=submission.record["id"])
            entry["fired"] += 1
            self.audit(audit)
            return Verdict.OK

    def schedule_list(self, name: str | None = None) -> tuple[int, list[StoredSchedule]]:
        with self._lock:
            table = self._schedules()
            entries = [table[name]] if name is not None and name in table else []
            if name is None:
                entries = list(table.values())
            found = []
            for entry in entries:
                job = self._load(entry["last_job"]) if entry["last_job"] else None
                found.append({**entry, "last_state": job["state"] if job is not None else None})
            return now_ms(), found

    def schedules_due(self, limit: int) -> tuple[int, list[StoredSchedule], int | None]:
        now = now_ms()
        with self._lock:
            waiting = sorted(
                (e["next"], e["name"]) for e in self._schedules().values() if not e["paused"] and e["next"] is not None
            )
            due = [dict(self._schedules()[name]) for at, name in waiting[:limit] if at <= now]
        return now, due, waiting[0][0] if waiting else None

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
        with self._lock:
            entry = self._schedules().get(name)
            if entry is None or entry["gen"] != gen or entry["next"] != expected_ms or entry["paused"]:
                return Verdict.STALE
            if now_ms() < expected_ms:
                return Verdict.EARLY
            fresh = [s for s in submissions if self._load(s.record["id"]) is None]
            self.submit(fresh)
            entry["next"] = next_ms
            if fresh:
                last = submissions.index(fresh[-1])
                entry.update(last_tick=ticks[last], last_at=now_ms(), last_job=fresh[-1].record["id"])
                entry["fired"] += len(fresh)
            entry["missed"] += missed
            return Verdict.OK
