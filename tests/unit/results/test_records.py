import re

import pytest
from botocore.session import get_session
from botocore.validate import ParamValidator

from batcheval.judges.base import TokenUsage
from batcheval.results.records import EvaluationResult, SpanContext
from tests.unit.results.builders import make_result

_result = make_result


def _validate(wire):
    shape = get_session().get_service_model("bedrock-agentcore").shape_for("EvaluationResultContent")
    report = ParamValidator().validate(wire, shape)
    assert not report.has_errors(), report.generate_report()
    arn = re.compile(getattr(shape, "members")["evaluatorArn"].metadata["pattern"])  # noqa: B009
    assert arn.search(wire["evaluatorArn"])


def test_scored_result_is_a_valid_evaluation_result_content():
    # Given a scored result, When put on the wire, Then botocore's EvaluationResultContent accepts it
    wire = _result(
        value=0.833, label="Very Helpful", explanation="ok", token_usage=TokenUsage(10, 5)
    ).to_wire()
    _validate(wire)
    assert wire["tokenUsage"] == {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15}
    assert wire["context"] == {"spanContext": {"sessionId": "sess", "traceId": "a" * 32, "spanId": "b" * 16}}


def test_error_result_has_no_value_and_carries_code_and_message():
    # Given an error, When put on the wire, Then no value or label, and code + message
    wire = _result(
        error_code="ThrottlingException", error_message="slow", ignored_reference_input_fields=("assertions",)
    ).to_wire()
    _validate(wire)
    assert "value" not in wire
    assert "label" not in wire
    assert wire["errorCode"] == "ThrottlingException"
    assert wire["ignoredReferenceInputFields"] == ["assertions"]


def test_explanation_and_error_message_are_clipped_to_the_model_limits():
    # Given over-long texts, When put on the wire, Then clipped to 2,048
    wire = _result(label="x", explanation="e" * 5000).to_wire()
    assert len(wire["explanation"]) == 2048
    assert wire["explanation"].endswith("…")
    assert len(_result(error_code="E", error_message="m" * 3000).to_wire()["errorMessage"]) == 2048


def test_unscored_is_never_a_silent_zero():
    # Given no value/label/error, or an error with a value, When built, Then ValueError
    with pytest.raises(ValueError, match="value, a label or an error_code"):
        _result()
    with pytest.raises(ValueError, match="must not carry a value"):
        _result(value=0.0, error_code="X", error_message="y")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_value_is_rejected(value):
    # Given a NaN or infinite value, When a result is built, Then ValueError (never NaN in output)
    with pytest.raises(ValueError, match="must be finite"):
        _result(value=value)


@pytest.mark.parametrize(
    "result",
    [
        _result(
            value=0.5,
            label="Neutral/Mixed",
            explanation="x",
            token_usage=TokenUsage(3, 4),
            evaluation_dimension_name="d",
        ),
        _result(error_code="E", error_message="m", ignored_reference_input_fields=("assertions",)),
        _result(label="Polite", level="TOOL_CALL"),
    ],
)
def test_records_round_trip(result):
    # Given a result, When stored and read back, Then it is equal
    assert EvaluationResult.from_record(result.to_record()) == result


def test_plain_wire_infers_session_or_trace_level():
    # Given plain wire results, When read back, Then the level is inferred
    session_level = _result(value=1.0, context=SpanContext("s"), level="SESSION").to_wire()
    assert EvaluationResult.from_record(session_level).level == "SESSION"
    assert EvaluationResult.from_record(_result(value=1.0).to_wire()).level == "TRACE"


def test_records_keep_diagnostics_outside_the_wire_form():
    # Given diagnostics, When stored, Then they are kept but not on the wire
    result = _result(value=1.0, label="Yes", extra={"rubricVersion": "v1"})
    assert "diagnostics" not in result.to_wire()
    assert EvaluationResult.from_record(result.to_record()).extra == {"rubricVersion": "v1"}
