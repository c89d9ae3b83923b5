"""Property: any payload either enqueues a valid job or is refused with InvalidPayload naming the
field, through both `JOB_SPECS[t].validate_payload` and `add_job` (which must agree), and never
with another exception. An accepted job's record holds what the worker will validate again."""

from __future__ import annotations

import ast
import sys
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import gemsdash.queue as q
from gemsdash.queue import JOB_SPECS, InvalidPayload, JobState, JobType, Runtime
from gemsdash.queue.payloads import find_card_number
from tests.properties.strategies import Candidate, candidates

EXAMPLES = settings(
    max_examples=120,
    deadline=None,  # a loaded CI machine must not turn a slow Redis round trip into a failure
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: Long enough that finding it in a message by chance is out of the question.
ECHO_MIN_CHARS = 12
#: Values from the models' fixed choices (templates, styles...), which messages may well name.
VOCABULARY = {
    str(choice)
    for spec in JOB_SPECS.values()
    for info in spec.payload_model.model_fields.values()
    for choice in get_args(info.annotation)
    if isinstance(choice, str)
}


def fields_of(job_type: JobType) -> list[str]:
    return list(JOB_SPECS[job_type].payload_model.model_fields)


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def keys_in(value: Any) -> set[str]:
    if isinstance(value, dict):
        return {str(k) for k in value} | {k for v in value.values() for k in keys_in(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_in(v)}
    return set()


def unquoted(shown: str) -> str:
    """A field name with control characters is shown quoted (its repr); this is the name itself."""
    if len(shown) > 1 and shown[0] in ("'", '"') and shown[-1] == shown[0]:
        try:
            return str(ast.literal_eval(shown))
        except (ValueError, SyntaxError):
            return shown
    return shown


def assert_names_fields(error: InvalidPayload, job_type: JobType, candidate: Candidate) -> None:
    """Each error names a field of the model or of the input (or `payload` for a non-object), and
    no message repeats an input value: a rejected payload may hold a secret."""
    assert error.job_type == job_type.value and error.errors
    payload = candidate.payload
    names = set(fields_of(job_type)) | (set(map(str, payload)) if isinstance(payload, dict) else set())
    if "" in names:
        names.add("payload")  # an empty key has no name to give
    for shown, message in error.errors:
        assert shown and message
        assert shown.isprintable()  # one line, no control characters
        # A name with control characters is shown quoted (repr); compare the name itself.
        field = unquoted(shown)
        if isinstance(payload, dict):
            assert any(field == n or field.startswith(n + ".") for n in names), (field, names)
        elif isinstance(payload, list) and field.split(".")[0].isdigit():
            assert int(field.split(".")[0]) < len(payload)  # a card number found inside a list payload
        else:
            assert field == "payload"
    echoable = [s for s in strings_in(payload) if len(s) >= ECHO_MIN_CHARS and s not in keys_in(payload) | VOCABULARY]
    for value in echoable:
        assert all(value not in message for _, message in error.errors), value
    refused_for_card = any("raw card number" in message for _, message in error.errors)
    if candidate.how in ("extra", "drop") and candidate.key is not None and not refused_for_card:
        required = JOB_SPECS[job_type].payload_model.model_fields.get(candidate.key)
        if candidate.how == "extra" or (required is not None and required.is_required()):
            named = [unquoted(f) for f, _ in error.errors]
            assert any(f == candidate.key or f.startswith(candidate.key + ".") for f in named)


@pytest.mark.parametrize("job_type", list(JobType), ids=[t.value for t in JobType])
@EXAMPLES
@given(data=st.data())
def test_any_payload_is_enqueued_valid_or_refused_naming_the_field(
    redis_runtime: Runtime, job_type: JobType, data: st.DataObject
) -> None:
    candidate = data.draw(candidates(job_type, fields_of(job_type)), label="candidate")
    spec = JOB_SPECS[job_type]
    try:
        model = spec.validate_payload(candidate.payload)
    except InvalidPayload as refused:
        event(f"{candidate.how}: refused")
        # A generated number can happen to be a Luhn-valid 13-19 digit run: refusing it is right.
        looks_like_card = find_card_number(candidate.payload) is not None
        assert candidate.how != "valid" or looks_like_card, refused.errors
        assert_names_fields(refused, job_type, candidate)
        with pytest.raises(InvalidPayload) as again:
            q.add_job(job_type, candidate.payload)
        assert again.value.errors == refused.errors
        return
    event(f"{candidate.how}: accepted")
    assert candidate.how != "extra", "an unknown field was accepted"
    job_id = q.add_job(job_type, candidate.payload)
    record = q.get_job(job_id)
    assert record is not None and record.state is JobState.QUEUED and record.type is job_type
    assert record.payload == model.model_dump(mode="json")
    assert spec.validate_payload(record.payload) == model  # the worker validates it again


def test_a_deeply_nested_payload_is_refused_not_crashed(redis_runtime: Runtime) -> None:
    nested: Any = "x"
    for _ in range(sys.getrecursionlimit() + 100):
        nested = [nested]
    with pytest.raises(InvalidPayload) as refused:
        q.add_job(JobType.SKETCH_GENERATION, {"prompt": "p", "user_id": "u", "extra": nested})
    assert refused.value.errors[0][0].startswith("extra")
