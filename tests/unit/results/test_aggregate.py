import math

import pytest

from batcheval.judges.base import TokenUsage
from batcheval.results.aggregate import ScorePolicy, mean_ci95, percentile, session_counts, summarize
from batcheval.results.records import EvaluationResult, SpanContext


def _r(evaluator_id="Builtin.Helpfulness", value=None, label=None, error=None, dim=None, usage=None, n=0):
    return EvaluationResult(
        evaluator_id=evaluator_id,
        evaluator_name=evaluator_id,
        evaluator_arn="arn:aws:bedrock-agentcore:::evaluator/" + evaluator_id,
        context=SpanContext(f"s{n}"),
        level="SESSION",
        value=value,
        label=label,
        error_code=error,
        error_message="m" if error else None,
        evaluation_dimension_name=dim,
        token_usage=usage,
    )


def test_summary_matches_get_batch_evaluation_shape_and_counts():
    # Given two scores and one error, When summarised, Then GetBatchEvaluation's shape and counts
    results = [_r(value=1.0, label="Yes"), _r(value=0.0, label="No"), _r(error="ThrottlingException")]
    (summary,) = summarize(results)
    wire = summary.to_wire(extended=False)
    assert wire == {
        "evaluatorId": "Builtin.Helpfulness",
        "statistics": {"averageScore": 0.5},
        "totalEvaluated": 2,
        "totalFailed": 1,
    }


def test_no_scored_results_means_no_average_not_zero():
    # Given only errors, When summarised, Then no averageScore (not 0)
    (summary,) = summarize([_r(error="JudgeUnavailable"), _r(error="JudgeUnavailable")])
    wire = summary.to_wire()
    assert wire["statistics"] == {}
    assert wire["extendedStatistics"]["count"] == 0
    assert "mean" not in wire["extendedStatistics"]
    assert wire["extendedStatistics"]["errorCodes"] == {"JudgeUnavailable": 2}


def test_extended_statistics():
    # Given five scores, When summarised, Then the extended statistics
    values = [0.0, 0.25, 0.5, 0.75, 1.0]
    results = [_r(value=v, label=str(v), usage=TokenUsage(10, 1), n=i) for i, v in enumerate(values)]
    (summary,) = summarize(results)
    ext = summary.extended
    assert ext["mean"] == 0.5
    assert ext["p50"] == 0.5
    assert ext["p90"] == pytest.approx(0.9)
    assert (ext["min"], ext["max"]) == (0.0, 1.0)
    assert ext["stddev"] == pytest.approx(math.sqrt(0.15625))
    assert ext["ci95"]["low"] < 0.5 < ext["ci95"]["high"]
    assert ext["passRate"] == 0.6
    assert ext["tokenUsage"] == {"inputTokens": 50, "outputTokens": 5, "totalTokens": 55}
    assert ext["averageTokenUsage"] == {"inputTokens": 10.0, "outputTokens": 1.0, "totalTokens": 11.0}
    assert sum(ext["labelDistribution"].values()) == 5


def test_single_score_has_no_spread_statistics():
    # Given one score, When summarised, Then no stddev or CI
    (summary,) = summarize([_r(value=1.0)])
    assert "stddev" not in summary.extended
    assert "ci95" not in summary.extended


def test_pass_rate_follows_polarity():
    # Given a lower-is-better evaluator, When summarised, Then values at or below the threshold pass
    results = [_r("ThirdParty.Batcheval.ToolErrorRate", value=v) for v in (0.0, 0.0, 0.5)]
    (summary,) = summarize(results, policy_for=lambda _id: ScorePolicy("lower_is_better", 0.0))
    assert summary.extended["passRate"] == pytest.approx(2 / 3)


def test_dimensions_are_summarised_separately_and_categorical_has_labels_only():
    # Given two dimensions, When summarised, Then one summary each; a label-only one has no average
    results = [
        _r("c-abcdefghij", label="Polite", dim="tone"),
        _r("c-abcdefghij", value=1.0, label="Right", dim="accuracy"),
    ]
    tone, accuracy = summarize(results)
    assert tone.to_wire(extended=False) == {
        "evaluatorId": "c-abcdefghij",
        "evaluationDimensionName": "tone",
        "statistics": {},
        "totalEvaluated": 1,
        "totalFailed": 0,
    }
    assert tone.extended["labelDistribution"] == {"Polite": 1}
    assert accuracy.average_score == 1.0


def test_bootstrap_ci_is_seeded_and_large_samples_use_the_normal_approximation():
    # Given small and large samples, When CIs are computed, Then seeded bootstrap or the normal approximation
    values = [i % 7 / 6 for i in range(200)]
    assert mean_ci95(values, seed=3) == mean_ci95(values, seed=3)
    big = [i % 2 for i in range(10_001)]
    ci = mean_ci95([float(v) for v in big])
    assert ci is not None
    low, high = ci
    assert high - low == pytest.approx(2 * 1.96 * 0.5 / math.sqrt(10_001), rel=1e-3)
    assert mean_ci95([1.0]) is None


def test_percentile_interpolates():
    # Given sorted values, When a percentile is taken, Then it interpolates (and refuses no values)
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_session_counts_fail_a_session_on_any_errored_result():
    # Given results for three sessions, When counted, Then one errored result fails its session
    results = [_r(value=1.0, n=1), _r(error="X", n=1), _r(value=1.0, n=2), _r(error="X", n=9)]
    counts = session_counts(results, ["s1", "s2", "s3"])
    assert (counts.completed, counts.failed) == (2, 1)
