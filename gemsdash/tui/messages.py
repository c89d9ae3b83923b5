"""What a screen asks of the app: the app owns the refresh loop and the navigation to a job."""

from __future__ import annotations

from textual.message import Message


class RefreshWanted(Message):
    """What is shown has changed (another page, a new screen): refresh now, or after the one in flight."""


class JobsChanged(Message):
    """An action changed jobs: the app says `text` and refreshes, so the change shows at once."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class OpenJob(Message):
    """Show one job's detail screen."""

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id
