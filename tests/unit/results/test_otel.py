from batcheval.judges.base import TokenUsage
from batcheval.results.otel import to_log_record
from batcheval.results.records import SpanContext
from tests.unit.results.builders import make_result

JOB = "arn:aws:bedrock-agentcore:us-east-1:123456789012:batch-evaluate/run-ABCDEFGHIJ"


def _result(**kw):
    return make_result("Builtin.ToolSelectionAccuracy", **{"level": "TOOL_CALL", **kw})


def test_scored_result_becomes_a_gen_ai_evaluation_result_record():
    # Given a scored TOOL_CALL result, When rendered, Then a gen_ai.evaluation.result record with its ids
    record = to_log_record(
        _result(value=1.0, label="Yes", explanation="ok", token_usage=TokenUsage(5, 2)),
        service_name="agent.DEFAULT",
        job_arn=JOB,
        time_ns=123,
        tool_name="search",
    )
    attrs = record["attributes"]
    assert record["name"] == "gen_ai.evaluation.result"
    assert (record["traceId"], record["spanId"], record["timeUnixNano"]) == ("a" * 32, "b" * 16, 123)
    assert attrs["gen_ai.evaluation.score.value"] == 1.0
    assert attrs["gen_ai.evaluation.score.label"] == "Yes"
    assert attrs["gen_ai.tool.name"] == "search"
    assert attrs["aws.bedrock_agentcore.evaluation_level"] == "Tool"
    assert attrs["aws.bedrock_agentcore.evaluation_job.arn"] == JOB


def test_errored_result_has_error_attributes_and_no_score():
    # Given an errored SESSION result, When rendered, Then error attributes and no score
    record = to_log_record(
        _result(
            error_code="ThrottlingException",
            error_message="slow",
            context=SpanContext("sess"),
            level="SESSION",
        ),
        service_name="agent.DEFAULT",
        job_arn=JOB,
        time_ns=1,
    )
    attrs = record["attributes"]
    assert attrs["error.type"] == "ThrottlingException"
    assert "gen_ai.evaluation.score.value" not in attrs
    assert "traceId" not in record
    assert attrs["aws.bedrock_agentcore.evaluation_level"] == "Session"
