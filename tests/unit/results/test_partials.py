import json
import random

import pytest

from batcheval.judges.base import TokenUsage
from batcheval.results.aggregate import ScorePolicy, summarize
from batcheval.results.partials import (
    MAX_SCENARIOS,
    SKETCH_RELATIVE_ACCURACY,
    SummaryAccumulator,
    merge_all,
)
from batcheval.results.pricing import PRICE_SOURCE
from batcheval.results.records import EvaluationResult, SpanContext
from tests.unit.results.naive_summary import naive_summarize

SEVEN_LEVELS = [0.0, 1 / 6, 2 / 6, 0.5, 4 / 6, 5 / 6, 1.0]
ADDED_KEYS = {"byTestScenario", "testScenariosOmittedResults", "estimatedJudgeCostUsd", "unpricedJudgeModels"}


def _policy(evaluator_id: str) -> ScorePolicy:
    if evaluator_id.endswith("Rate"):
        return ScorePolicy("lower_is_better", 0.1)
    if evaluator_id.startswith("Custom"):
        return ScorePolicy(threshold=None)
    return ScorePolicy()


def _result(rng: random.Random, index: int, evaluator_id: str, *, continuous: bool) -> EvaluationResult:
    """A seeded random result: mostly scored, some labelled-only, some errors, some with judge tokens."""
    roll = rng.random()
    fields: dict = {"error_code": None, "value": None, "label": None}
    if roll < 0.07:
        fields.update(error_code=rng.choice(["ThrottlingException", "InvalidJudgeOutput"]), error_message="m")
    elif roll < 0.1:
        fields["label"] = rng.choice(["Polite", "Rude"])
    else:
        value = rng.gauss(0.4, 2.0) if continuous else rng.choice(SEVEN_LEVELS)
        fields.update(value=value, label=f"L{value:.2f}" if not continuous else None)
    usage = TokenUsage(rng.randrange(100, 900), rng.randrange(5, 60)) if rng.random() < 0.8 else None
    model = rng.choice(["us.anthropic.claude-haiku-4-5-20251001-v1:0", "my-own-model"])
    return EvaluationResult(
        evaluator_id=evaluator_id,
        evaluator_name=evaluator_id,
        evaluator_arn="arn:aws:bedrock-agentcore:::evaluator/" + evaluator_id,
        context=SpanContext(f"s{index}"),
        level="SESSION",
        token_usage=usage,
        evaluation_dimension_name="tone" if evaluator_id.startswith("Custom") and index % 2 else None,
        extra={"judgeModelId": model} if usage is not None else {},
        **fields,
    )


def _dataset(seed: int, sizes: dict[str, int], *, continuous: bool = False) -> list[EvaluationResult]:
    rng = random.Random(seed)
    results = [_result(rng, i, ev, continuous=continuous) for ev, n in sizes.items() for i in range(n)]
    rng.shuffle(results)
    return results


def _partials(results: list[EvaluationResult], batch: int, scenario=lambda r: None) -> list[dict]:
    """Per-batch partials as the pipeline stores them: to_json, through a JSON string, per batch."""
    out = []
    for start in range(0, len(results), batch):
        accumulator = SummaryAccumulator(policy_for=_policy)
        for result in results[start : start + batch]:
            accumulator.add(result, test_scenario_id=scenario(result))
        out.append(json.loads(json.dumps(accumulator.to_json())))
    return out


def _without_added(extended) -> dict:
    return {k: v for k, v in extended.items() if k not in ADDED_KEYS}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_merged_partials_equal_the_in_memory_oracle_exactly_on_discrete_scales(seed):
    # Given seeded results on 7-level scales: groups below and above the bootstrap limit, errors, labels,
    # dimensions and two policies, split into batches of 37
    results = _dataset(seed, {"Builtin.Helpfulness": 2_500, "ToolErrorRate": 300, "Custom.Tone": 700})
    # When the partials are merged in batch order and summarised
    merged = merge_all(iter(_partials(results, 37))).summaries(seed=seed)
    # Then every field equals the plain in-memory computation bit for bit (bootstrap and normal CIs included)
    expected = naive_summarize(results, policy_for=_policy, seed=seed)
    assert [s.to_wire(extended=False) for s in merged] == [s.to_wire(extended=False) for s in expected]
    assert [_without_added(s.extended) for s in merged] == [dict(s.extended) for s in expected]
    assert {s.extended["ci95"]["method"] for s in merged if "ci95" in s.extended} == {"bootstrap", "normal"}


def test_summarize_is_the_accumulator_and_equals_the_oracle_on_continuous_scores():
    # Given continuous scores (more distinct values than any histogram cap)
    results = _dataset(4, {"Builtin.Helpfulness": 3_000, "Custom.Tone": 400}, continuous=True)
    # When summarised in memory
    got = summarize(results, policy_for=_policy, seed=4)
    # Then identical to the oracle: in-memory summarize never approximates
    expected = naive_summarize(results, policy_for=_policy, seed=4)
    assert [_without_added(s.extended) for s in got] == [dict(s.extended) for s in expected]
    assert all("quantileSketch" not in s.extended for s in got)


def test_sketched_partials_stay_within_the_stated_bounds():
    # Given 5,000 continuous scores of one evaluator (beyond the 1,000-value histogram) in batches of 50
    results = _dataset(5, {"Builtin.Helpfulness": 5_000}, continuous=True)
    # When merged from partials
    (merged,) = merge_all(iter(_partials(results, 50))).summaries()
    (exact,) = naive_summarize(results, policy_for=_policy)
    got, want = merged.extended, exact.extended
    # Then counts, mean, min, max and passRate are exact; the sketch is declared
    for key in ("count", "unscored", "mean", "min", "max", "passRate", "labelDistribution", "errorCodes"):
        assert got[key] == want[key], key
    assert merged.average_score == exact.average_score
    assert got["quantileSketch"] == {"relativeAccuracy": SKETCH_RELATIVE_ACCURACY}
    # And stddev / CI agree to rounding, percentiles within alpha * max(|x_lo|, |x_hi|)
    assert got["stddev"] == pytest.approx(want["stddev"], rel=1e-12)
    assert got["ci95"]["low"] == pytest.approx(want["ci95"]["low"], rel=1e-12)
    assert got["ci95"]["high"] == pytest.approx(want["ci95"]["high"], rel=1e-12)
    scores = sorted(r.value for r in results if r.value is not None and r.error_code is None)
    for name, q in (("p50", 0.5), ("p90", 0.9)):
        pos = (len(scores) - 1) * q
        bound = SKETCH_RELATIVE_ACCURACY * max(abs(scores[int(pos)]), abs(scores[int(pos) + 1]))
        assert abs(got[name] - want[name]) <= bound * (1 + 1e-9), name


def test_merge_order_does_not_change_a_sketched_summary():
    # Given the partials of a sketched group
    partials = _partials(_dataset(6, {"Builtin.Helpfulness": 3_000}, continuous=True), 64)
    # When merged in batch order and in a shuffled order
    in_order = merge_all(iter(partials)).summaries()
    shuffled = list(partials)
    random.Random(0).shuffle(shuffled)
    # Then the summaries are identical
    assert merge_all(iter(shuffled)).summaries() == in_order


def test_a_small_continuous_group_keeps_the_exact_bootstrap_when_merged():
    # Given 600 continuous scores (below the bootstrap limit) over 12 partials
    results = _dataset(7, {"Custom.Tone": 1_200}, continuous=True)
    # When merged
    merged = merge_all(iter(_partials(results, 100))).summaries(seed=9)
    # Then the bootstrap CI and percentiles equal the oracle's exactly
    expected = naive_summarize(results, policy_for=_policy, seed=9)
    assert [_without_added(s.extended) for s in merged] == [dict(s.extended) for s in expected]
    assert merged[0].extended["ci95"]["method"] == "bootstrap"


def test_test_scenario_breakdown_counts_and_averages_per_scenario():
    # Given results tagged with three scenarios by session
    results = _dataset(8, {"Builtin.Helpfulness": 600})

    def scenario(r):
        return f"scn-{int(r.context.session_id[1:]) % 3}"

    # When merged from partials
    (summary,) = merge_all(iter(_partials(results, 50, scenario))).summaries()
    # Then each scenario's counts, average and pass rate match an independent computation
    breakdown = summary.extended["byTestScenario"]
    assert set(breakdown) == {"scn-0", "scn-1", "scn-2"}
    for sid, got in breakdown.items():
        mine = [r for r in results if scenario(r) == sid]
        scores = [r.value for r in mine if r.value is not None and r.error_code is None]
        assert got["totalFailed"] == sum(r.failed for r in mine)
        assert got["totalEvaluated"] == sum(not r.failed for r in mine)
        assert got["count"] == len(scores)
        assert got["averageScore"] == pytest.approx(sum(scores) / len(scores), rel=1e-15)
        assert got["passRate"] == sum(v >= 0.5 for v in scores) / len(scores)


def test_scenarios_past_the_cap_are_counted_not_dropped_silently():
    # Given one result per scenario for more scenarios than the cap
    results = _dataset(9, {"Builtin.Helpfulness": MAX_SCENARIOS + 30})
    # When merged from partials
    (summary,) = merge_all(iter(_partials(results, 50, lambda r: r.context.session_id))).summaries()
    # Then the first MAX_SCENARIOS are broken down and the rest are counted as omitted results
    assert len(summary.extended["byTestScenario"]) == MAX_SCENARIOS
    assert summary.extended["testScenariosOmittedResults"] == 30


def test_judge_tokens_and_estimated_cost():
    # Given results judged by a priced and an unpriced model
    results = _dataset(10, {"Builtin.Helpfulness": 200, "Custom.Tone": 100})
    accumulator = merge_all(iter(_partials(results, 25)))
    # When the job's judge usage is read
    usage = accumulator.judge_usage()
    # Then tokens are totalled per model and only the priced model is costed (Haiku 4.5: $1 / $5 per 1M)
    haiku = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    used = [r.token_usage for r in results if r.token_usage is not None and r.extra["judgeModelId"] == haiku]
    tokens_in = sum(u.input_tokens for u in used)
    tokens_out = sum(u.output_tokens for u in used)
    assert usage["byModel"][haiku] == {
        "inputTokens": tokens_in,
        "outputTokens": tokens_out,
        "estimatedCostUsd": pytest.approx((tokens_in * 1.0 + tokens_out * 5.0) / 1e6),
    }
    assert "estimatedCostUsd" not in usage["byModel"]["my-own-model"]
    assert usage["unpricedJudgeModels"] == ["my-own-model"]
    assert usage["estimatedJudgeCostUsd"] == pytest.approx((tokens_in + 5 * tokens_out) / 1e6)
    assert usage["totalTokens"] == sum(
        r.token_usage.total_tokens for r in results if r.token_usage is not None
    )
    assert usage["priceSource"] == PRICE_SOURCE
    # And each summary carries its own group's estimate
    assert all(s.extended["estimatedJudgeCostUsd"] > 0 for s in accumulator.summaries())


def test_partials_scored_under_different_policies_refuse_to_merge():
    # Given two partials of one evaluator under different thresholds
    results = _dataset(11, {"Builtin.Helpfulness": 10})
    strict = SummaryAccumulator(policy_for=lambda _e: ScorePolicy(threshold=0.9))
    lenient = SummaryAccumulator()
    strict.add(results[0])
    lenient.add(results[1])
    # When merged, Then refused
    with pytest.raises(ValueError, match="different policies"):
        strict.merge(lenient)


def test_unknown_partial_version_is_refused():
    # Given a partial from another format version, When read, Then refused
    with pytest.raises(ValueError, match="unsupported summary partial version"):
        SummaryAccumulator.from_json({"version": 99, "groups": []})


def test_round_trip_preserves_every_summary():
    # Given an accumulator with exact and sketched groups and scenarios
    exact = _dataset(12, {"Builtin.Helpfulness": 300})
    sketched = _dataset(13, {"Custom.Tone": 2_500}, continuous=True)
    accumulator = SummaryAccumulator(policy_for=_policy)
    for i, result in enumerate(exact + sketched):
        accumulator.add(result, test_scenario_id=f"t{i % 4}")
    # When written to JSON text and read back
    restored = SummaryAccumulator.from_json(json.loads(json.dumps(accumulator.to_json())))
    # Then the summaries are unchanged
    assert restored.summaries(seed=2) == accumulator.summaries(seed=2)
    assert len(restored) == len(exact) + len(sketched)
