"""What an operator does to jobs, from whichever screen shows them (the main screen, a job's detail,
an error group): retry, cancel, run now, abort and delete, one job or many.

Each is refused in read-only mode, confirmed first when it cannot be undone, run off the UI thread,
and ends with a `JobsChanged` for the app, which says what happened and refreshes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from rich.console import Group
from rich.text import Text

from gemsdash.queue import JobRecord
from gemsdash.queue.visible import visible
from gemsdash.tui import format as fmt
from gemsdash.tui.background import background, say
from gemsdash.tui.dialogs.confirm import ConfirmScreen, preview_table
from gemsdash.tui.messages import JobsChanged
from gemsdash.tui.screens.base import DataScreen
from gemsdash.tui.source import DataSource

T = TypeVar("T")


class JobActions:
    def __init__(self, screen: DataScreen[Any]) -> None:
        self.screen = screen

    @property
    def source(self) -> DataSource:
        return self.screen.session.source

    def _changed(self, text: str, after: Callable[[], object] | None = None) -> Callable[[object], None]:
        def done(_: object) -> None:
            if after is not None:
                after()
            self.screen.app.post_message(JobsChanged(text))

        return done

    def _run(self, call: Callable[[DataSource], T], done: Callable[[T], None]) -> None:
        source = self.source
        background(self.screen, lambda: call(source), done)

    def _confirm(self, title: str, body: Text, button: str, on_yes: Callable[[], None], verb: str) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                on_yes()
            else:
                say(self.screen, f"{verb} cancelled: nothing changed.")

        self.screen.app.push_screen(ConfirmScreen(title, body, button, variant="error"), confirmed)

    def retry(self, job_id: str) -> None:
        if not self.screen.refused("retry"):
            done = self._changed(f"Retried job {fmt.short_id(job_id)}: it is back in its queue.")
            self._run(lambda source: source.retry(job_id), done)

    def cancel(self, job_id: str) -> None:
        if not self.screen.refused("cancel"):
            done = self._changed(f"Cancelled job {fmt.short_id(job_id)}; r on it retries it.")
            self._run(lambda source: source.cancel(job_id), done)

    def run_now(self, job_id: str) -> None:
        if not self.screen.refused("run now"):
            done = self._changed(f"Job {fmt.short_id(job_id)} is queued to run now.")
            self._run(lambda source: source.run_now(job_id), done)

    def abort(self, job_id: str) -> None:
        """Stop a running job, after a confirmation; its worker interrupts it within about a second."""
        if self.screen.refused("abort"):
            return
        done = self._changed(
            f"Abort of job {fmt.short_id(job_id)} requested: its worker stops it within about a second."
        )
        body = Text.assemble(
            "Stop running job ", (visible(job_id), "bold"), " now? It ends cancelled and is not retried; "
        )
        body.append("what it already did (an email sent, a payment captured) stays done.")
        self._confirm("Abort a running job", body, "Abort", lambda: self._run(lambda s: s.abort(job_id), done), "Abort")

    def delete(self, job_id: str, after: Callable[[], object] | None = None) -> None:
        """Delete a dead or cancelled job for good, after a confirmation."""
        if self.screen.refused("delete"):
            return
        done = self._changed(f"Deleted job {fmt.short_id(job_id)} for good.", after)
        body = Text.assemble("Delete job ", (visible(job_id), "bold"), " for good? Its record, error and payload go; ")
        body.append("only a dead or cancelled job can be deleted.")
        self._confirm("Delete a job", body, "Delete", lambda: self._run(lambda s: s.delete(job_id), done), "Delete")

    def retry_many(self, job_ids: list[str], what: str, after: Callable[[], None] | None = None) -> None:
        """Retry each job; one that changed meanwhile (retried by someone else, expired) is counted,
        not fatal, and the notification says how many went back."""
        if self.screen.refused("retry"):
            return
        why = "not dead or cancelled (any more), or expired"
        self._run(lambda source: source.retry_jobs(job_ids), self._many("Retried", what, "retried", why, after))

    def cancel_many(self, job_ids: list[str], what: str, after: Callable[[], None] | None = None) -> None:
        """Cancel each job (each cancel is atomic on its own); one that started or finished
        meanwhile is counted, not fatal."""
        if self.screen.refused("cancel"):
            return
        why = "already running, finished or expired"
        self._run(lambda source: source.cancel_jobs(job_ids), self._many("Cancelled", what, "cancelled", why, after))

    def _many(
        self, verb: str, what: str, participle: str, why: str, after: Callable[[], None] | None
    ) -> Callable[[tuple[int, list[str]]], None]:
        def finished(outcome: tuple[int, list[str]]) -> None:
            done, skipped = outcome
            text = f"{verb} {fmt.count(done)} job{'s' if done != 1 else ''} of {what}"
            if skipped:
                text += f"; {fmt.count(len(skipped))} could not be {participle} ({why})"
            self._changed(text + ".", after)(None)

        return finished

    def on_marked(
        self, action: Literal["retry", "cancel"], jobs: list[JobRecord], queue: str, after: Callable[[], None]
    ) -> None:
        """Retry or cancel the jobs marked in the table, after a confirmation that shows them."""
        if self.screen.refused(action):
            return
        what = f"the {fmt.count(len(jobs))} marked in {queue}"
        body = Group(
            Text.assemble(
                f"{action.capitalize()} ", (f"{fmt.count(len(jobs))} marked job(s)", "bold #ffaf00"), f" of {queue}?"
            ),
            Text(""),
            preview_table(jobs[:8]),
        )
        run = self.retry_many if action == "retry" else self.cancel_many
        ids = [job.id for job in jobs]
        self.screen.app.push_screen(
            ConfirmScreen(f"{action.capitalize()} marked jobs", body, f"{action.capitalize()} {len(jobs)}"),
            lambda yes: (
                run(ids, what, after)
                if yes
                else say(self.screen, f"{action.capitalize()} of marked jobs cancelled: nothing changed.")
            ),
        )
