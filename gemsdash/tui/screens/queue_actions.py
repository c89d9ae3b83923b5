"""What an operator does to a whole queue from the main screen: retry its dead jobs, clear it,
pause or resume it, enqueue a job into it.

The bulk ones read fresh counts first and show them in a confirmation, because a count on screen may
be a second old and the operator must know what they are about to change.
"""

from __future__ import annotations

from typing import Any

from gemsdash.queue import ClearResult, JobPage, JobState, JobType, Snapshot
from gemsdash.tui import format as fmt
from gemsdash.tui.background import background, say
from gemsdash.tui.dialogs.confirm import ClearChoice, ClearScreen, ConfirmScreen, retry_all_body
from gemsdash.tui.dialogs.enqueue import EnqueueScreen
from gemsdash.tui.messages import JobsChanged
from gemsdash.tui.screens.base import DataScreen
from gemsdash.tui.source import JobQuery


class QueueActions:
    def __init__(self, screen: DataScreen[Any]) -> None:
        self.screen = screen

    def _changed(self, text: str) -> None:
        self.screen.app.post_message(JobsChanged(text))

    def retry_all(self, queue: str) -> None:
        """Preview (count and first dead jobs, read fresh), confirm, then retry them all."""
        if self.screen.refused("retry all"):
            return
        source = self.screen.session.source
        previewed = [0]

        def preview(page: JobPage) -> None:
            previewed[0] = page.total
            if page.total == 0:
                say(self.screen, f"No dead jobs in {queue}: nothing to retry.")
                return
            screen = ConfirmScreen(
                f"Retry dead jobs of {queue}", retry_all_body(queue, page.total, page.jobs), "Retry all"
            )
            self.screen.app.push_screen(screen, lambda yes: confirmed(bool(yes)))

        def confirmed(yes: bool) -> None:
            if not yes:
                say(self.screen, f"Retry all for {queue} cancelled: nothing changed.")
                return
            background(self.screen, lambda: source.retry_all(queue), finished)

        def finished(count: int) -> None:
            self._changed(f"Retried {fmt.count(count)} dead job{'s' if count != 1 else ''} of {queue}{why(count)}.")

        def why(count: int) -> str:
            """The count shown before confirming was read then; jobs keep dying and being retried."""
            more = count - previewed[0]
            if more > 0:
                return f" ({fmt.count(more)} more died after the count of {fmt.count(previewed[0])} was shown)"
            if more < 0:
                gone = fmt.count(-more)
                return f" ({gone} of the {fmt.count(previewed[0])} counted were retried, cleared or expired meanwhile)"
            return ""

        background(self.screen, lambda: source.jobs(JobQuery(queue, JobState.DEAD, limit=5)), preview)

    def clear(self, queue: str) -> None:
        """Show the counts that will go (read fresh), require the queue's name, then clear."""
        if self.screen.refused("clear"):
            return
        session = self.screen.session
        source = session.source

        def preview(snapshot: Snapshot) -> None:
            session.snapshot = snapshot
            counts = snapshot.queues[queue].counts
            if not any(counts.get(s, 0) for s in (JobState.QUEUED, JobState.DELAYED, JobState.RETRYING, JobState.DEAD)):
                say(self.screen, f"{queue} has no waiting or dead jobs: nothing to clear.")
                return
            self.screen.app.push_screen(ClearScreen(queue, counts), confirmed)

        def confirmed(choice: ClearChoice | None) -> None:
            if choice is None:
                say(self.screen, f"Clear of {queue} cancelled: nothing changed.")
                return
            background(self.screen, lambda: source.clear(queue, include_dead=choice.include_dead), finished)

        def finished(result: ClearResult) -> None:
            parts = [f"{fmt.count(n)} {state}" for state, n in result.removed.items() if state != "dead"]
            text = f"Cleared {queue}: {', '.join(parts)} cancelled (r on a cancelled job brings it back)"
            if "dead" in result.removed:
                text += f"; {fmt.count(result.removed['dead'])} dead deleted"
            self._changed(text + ".")

        background(self.screen, source.snapshot, preview)

    def toggle_pause(self, queue: str) -> None:
        """Pause the queue, or resume it when it is paused (as the last refresh saw it)."""
        if self.screen.refused("pause"):
            return
        snapshot = self.screen.session.snapshot
        pause = not (snapshot is not None and queue in snapshot.paused)
        source = self.screen.session.source

        def done(_: bool) -> None:
            if pause:
                self._changed(f"Paused {queue}: workers take none of its jobs (enqueueing goes on); P resumes it.")
            else:
                self._changed(f"Resumed {queue}: workers take its jobs again.")

        background(self.screen, lambda: source.set_paused(queue, pause), done)

    def enqueue(self, queue: str | None = None) -> None:
        if self.screen.refused("enqueue"):
            return

        def done(job_id: str | None) -> None:
            if job_id:
                self._changed(f"Enqueued job {fmt.short_id(job_id)}.")

        job_type = JobType(queue) if queue else JobType.SKETCH_GENERATION
        self.screen.app.push_screen(EnqueueScreen(job_type, self.screen.session.source), done)
