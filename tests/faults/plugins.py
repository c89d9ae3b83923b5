"""Job implementations for fault tests, loaded by worker processes through `GEMSDASH_<TYPE>`
settings (`tests.faults.plugins:...`) and configured by test-only environment variables."""

from __future__ import annotations

import os
import time
from email.message import EmailMessage

from gemsdash.actors.gateway import SandboxGateway
from gemsdash.actors.protocols import GatewayUnavailable
from gemsdash.queue.context import current_job
from gemsdash.queue.payloads import PaymentPayload

#: Seconds the slow gateway waits before answering.
GATEWAY_SLEEP = "GEMSDASH_TEST_GATEWAY_SLEEP"
#: Seconds the logging sender takes per email.
SEND_SLEEP = "GEMSDASH_TEST_SEND_SLEEP"
#: File the logging sender appends one line per send to: "<job id> <recipient>".
SEND_LOG = "GEMSDASH_TEST_SEND_LOG"


class SlowUnavailableGateway(SandboxGateway):
    """The sandbox gateway, but `pm_card_unavailable` first hangs for GATEWAY_SLEEP seconds (a
    gateway timing out), so its failure is recorded while the test has Redis down."""

    def capture(self, request: PaymentPayload) -> dict[str, object]:
        if request.payment_method == "pm_card_unavailable":
            time.sleep(float(os.environ.get(GATEWAY_SLEEP, "0")))
            raise GatewayUnavailable("sandbox gateway timed out")
        return super().capture(request)


class LoggingSender:
    """Sends nothing; appends one line per send to SEND_LOG (O_APPEND: lines from several
    processes never interleave), so duplicate sends can be counted."""

    def send(self, message: EmailMessage) -> str:
        time.sleep(float(os.environ.get(SEND_SLEEP, "0")))
        line = f"{current_job().job_id} {message['To']}\n".encode()
        fd = os.open(os.environ[SEND_LOG], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        return "test://send-log"
