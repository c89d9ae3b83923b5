"""The built-in PaymentGateway: a sandbox that moves no real money but keeps a real ledger.

Its test payment methods behave like a card network's: `pm_card_visa` (and the other `_SUCCEEDS`
methods) succeed, `pm_card_declined` and `pm_card_insufficient_funds` are declined for good, and
`pm_card_unavailable` makes the gateway unreachable on every attempt (the transient failure a retry
with backoff is for). Idempotency and refund limits are the ledger's job, see ledger.py.
"""

from __future__ import annotations

from gemsdash.actors.ledger import Movement, PaymentState, Recorded, Refused, ledger
from gemsdash.actors.protocols import GatewayUnavailable, PaymentDeclined
from gemsdash.queue.payloads import PaymentPayload

SUCCEEDS = frozenset({"pm_card_visa", "pm_card_mastercard", "pm_card_amex"})
DECLINES = {
    "pm_card_declined": "card_declined: your card was declined (generic_decline)",
    "pm_card_insufficient_funds": "card_declined: insufficient funds",
}
UNAVAILABLE = "pm_card_unavailable"

REFUSALS = {
    "key_reused": "idempotency_key was already used for a different request ({detail}); use a new key",
    "currency_mismatch": "payment is in {detail}; a payment has one currency",
    "refund_exceeds": "refund exceeds the refundable amount of the payment ({detail} left)",
}


class SandboxGateway:
    def capture(self, request: PaymentPayload) -> dict[str, object]:
        self._reachable(request)
        if request.payment_method in DECLINES:
            raise PaymentDeclined(DECLINES[request.payment_method])
        if request.payment_method not in SUCCEEDS:
            raise PaymentDeclined(f"no such payment method: {request.payment_method}")
        return self._record("capture", request)

    def refund(self, request: PaymentPayload) -> dict[str, object]:
        self._reachable(request)
        return self._record("refund", request)

    def verify(self, request: PaymentPayload) -> dict[str, object]:
        """Read-only, so repeating it is naturally idempotent."""
        self._reachable(request)
        return state_json(ledger().state(request.payment_id))

    def _reachable(self, request: PaymentPayload) -> None:
        if request.payment_method == UNAVAILABLE:
            raise GatewayUnavailable("sandbox gateway unavailable (503); try again later")

    def _record(self, movement: Movement, request: PaymentPayload) -> dict[str, object]:
        outcome = ledger().record(movement, request)
        if isinstance(outcome, Refused):
            raise PaymentDeclined(REFUSALS[outcome.reason].format(detail=outcome.detail))
        return recorded_json(outcome)


def status(captured: int, refunded: int) -> str:
    if captured == 0:
        return "none"
    if refunded == 0:
        return "captured"
    return "refunded" if refunded >= captured else "partially_refunded"


def recorded_json(done: Recorded) -> dict[str, object]:
    return {
        "payment_id": done.payment_id,
        "operation": done.operation,
        "status": status(done.captured_total, done.refunded_total),
        "amount": done.amount,
        "currency": done.currency,
        "transaction_id": done.transaction_id,
        "captured_total": done.captured_total,
        "refunded_total": done.refunded_total,
        "refundable": done.captured_total - done.refunded_total,
        "replayed": done.replayed,
    }


def state_json(state: PaymentState) -> dict[str, object]:
    return {
        "payment_id": state.payment_id,
        "operation": "verify",
        "status": status(state.captured, state.refunded),
        "currency": state.currency,
        "captured_total": state.captured,
        "refunded_total": state.refunded,
        "refundable": state.captured - state.refunded,
        "captures": state.captures,
        "refunds": state.refunds,
        "journal": state.journal,
    }
