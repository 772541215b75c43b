import time
from typing import Any

from batcheval.results.metrics import to_emf
from tests.unit.results.builders import make_result


def test_scored_result_becomes_an_emf_document_with_the_four_dimension_sets():
    # Given a scored Helpfulness result
    now_ms = int(time.time() * 1000)
    result = make_result(value=0.833, label="Very Helpful")
    # When rendered as EMF
    doc = to_emf(
        result, service_name="agent.DEFAULT", batch_evaluation_id="run-ABCDEFGHIJ", timestamp_ms=now_ms
    )
    # Then the metric is the evaluator, the value the score, with the documented dimension sets
    assert doc is not None
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Bedrock-AgentCore/Evaluations"
    assert directive["Metrics"] == [{"Name": "Builtin.Helpfulness", "Unit": "None"}]
    assert directive["Dimensions"] == [
        ["service.name"],
        ["label", "service.name"],
        ["service.name", "batchEvaluationId"],
        ["label", "service.name", "batchEvaluationId"],
    ]
    assert doc["Builtin.Helpfulness"] == [0.833]  # EMF allows value arrays; Powertools writes one
    assert doc["label"] == "Very Helpful"
    assert doc["_aws"]["Timestamp"] == now_ms
    assert "service" not in doc


def test_errors_and_label_only_results_emit_no_metric():
    # Given an errored and a categorical result, When rendered, Then no metric (never a charted 0)
    kw: dict[str, Any] = {
        "service_name": "a",
        "batch_evaluation_id": "b",
        "timestamp_ms": int(time.time() * 1000),
    }
    assert to_emf(make_result(error_code="E", error_message="m"), **kw) is None
    assert to_emf(make_result(label="Polite"), **kw) is None


def test_dimension_results_get_their_own_metric_name():
    # Given a multi-dimensional result, When rendered, Then the metric names the dimension
    result = make_result("tone-abcdefghij", value=1.0, label="Right", evaluation_dimension_name="accuracy")
    doc = to_emf(result, service_name="a", batch_evaluation_id="b", timestamp_ms=int(time.time() * 1000))
    assert doc is not None
    assert doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] == "tone-abcdefghij.accuracy"
