"""Mixed load for the rendered example: sketches (slow), emotion texts, payments (some declined,
some with the gateway down so they retry), arriving faster than one worker thread can keep up."""

import random
import sys
import time
import uuid

import gemsdash.queue as q

q.configure()
end = time.monotonic() + float(sys.argv[1])
n = 0
SKETCH = {"style": "line-art", "quality": "high", "user_id": "u1"}
EMOTION = {"analysis_type": "text", "text": "What a lovely, terrible day", "user_id": "u1"}
PAYMENT = {"operation": "capture", "amount": 1250, "currency": "EUR"}
while time.monotonic() < end:
    r = random.random()
    if r < 0.3:
        q.add_job("sketch-generation", {**SKETCH, "prompt": f"a lighthouse {n}"})
    elif r < 0.6:
        q.add_job("emotion-analysis", EMOTION)
    else:
        pm = random.choice(["pm_card_visa"] * 8 + ["pm_card_declined", "pm_card_unavailable"])
        payment = {**PAYMENT, "payment_id": f"pay_{n}", "payment_method": pm, "idempotency_key": uuid.uuid4().hex}
        q.add_job("payment-processing", payment, attempts=3, backoff={"type": "fixed", "delay": 2000})
    n += 1
    time.sleep(0.15)
print("enqueued", n)
