"""Aggregation at job scale: 1,000,000 sessions x 10 evaluators folded into per-batch partials and merged.

Run: `.venv/bin/python -m benchmarks.aggregation_scale [--batches 20000] [--sessions-per-batch 50]
[--continuous 2] [--scenarios 1000]` (defaults: the 10,000,000-result job).

Shape: `--evaluators` evaluators per session (default 10), of which `--continuous` score on a
continuous scale (custom/code evaluators: latency, token counts; these reach the quantile sketch)
and the rest on built-in 7-level scales; ~5% errors, 80% of results carry judge tokens, every
session names one of `--scenarios` test scenarios (0: none). Results come from a seeded pool
(building 10M result objects would measure dataclass construction, not aggregation).

Measured:
1. add throughput (results/s) while each batch folds its 500 results into an accumulator;
2. partial size: `msgspec.json.encode(to_json())` bytes per batch (min / median / max);
3. merge of every partial in batch order (`msgspec.json.decode` + `merge_json`), as the aggregate step does:
   time, tracemalloc peak of the merge itself (the partials' text is allocated before), and the
   size of the merged state; then `summaries()` time.
Times are CPU seconds of this process (`time.process_time`): what one dedicated Lambda vCPU would
spend, independent of other load on the machine; the total wall time is printed last.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import tracemalloc

import msgspec

from batcheval.judges.base import TokenUsage
from batcheval.results.partials import SummaryAccumulator
from batcheval.results.records import EvaluationResult, SpanContext, builtin_arn

SEVEN_LEVELS = [0.0, 1 / 6, 2 / 6, 0.5, 4 / 6, 5 / 6, 1.0]
POOL = 4_096
JUDGE_MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"


def _pool(evaluator_id: str, continuous: bool, rng: random.Random) -> list[EvaluationResult]:
    out = []
    for i in range(POOL):
        error = rng.random() < 0.05
        value = None if error else (rng.lognormvariate(0, 1) if continuous else rng.choice(SEVEN_LEVELS))
        usage = None if continuous or rng.random() < 0.2 else TokenUsage(rng.randrange(800, 4000), 80)
        out.append(
            EvaluationResult(
                evaluator_id=evaluator_id,
                evaluator_name=evaluator_id,
                evaluator_arn=builtin_arn(evaluator_id),
                context=SpanContext(f"s{i}"),
                level="SESSION",
                value=value,
                label=None if error or continuous else f"L{value}",
                error_code="ThrottlingException" if error else None,
                error_message="throttled" if error else None,
                token_usage=usage,
                extra={"judgeModelId": JUDGE_MODEL} if usage else {},
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20_000)
    parser.add_argument("--sessions-per-batch", type=int, default=50)
    parser.add_argument("--evaluators", type=int, default=10)
    parser.add_argument("--continuous", type=int, default=2)
    parser.add_argument("--scenarios", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    wall = time.perf_counter()
    rng = random.Random(args.seed)
    evaluators = [
        (f"Custom.Continuous{e}" if e < args.continuous else f"Builtin.Discrete{e}", e < args.continuous)
        for e in range(args.evaluators)
    ]
    pools = [_pool(evaluator_id, continuous, rng) for evaluator_id, continuous in evaluators]
    scenarios = [f"scenario-{i:05d}" for i in range(args.scenarios)]

    partials: list[bytes] = []
    sizes: list[int] = []
    add_seconds = 0.0
    results = 0
    start = time.process_time()
    for batch in range(args.batches):
        accumulator = SummaryAccumulator()
        offsets = [rng.randrange(POOL) for _ in pools]
        began = time.process_time()
        for session in range(args.sessions_per_batch):
            index = batch * args.sessions_per_batch + session
            scenario = scenarios[index % len(scenarios)] if scenarios else None
            for pool, offset in zip(pools, offsets, strict=True):
                accumulator.add(pool[(offset + session) % POOL], test_scenario_id=scenario)
        add_seconds += time.process_time() - began
        results += args.sessions_per_batch * len(pools)
        text = msgspec.json.encode(accumulator.to_json())
        sizes.append(len(text))
        partials.append(text)
    build_seconds = time.process_time() - start
    print(
        f"add: {results:,} results in {add_seconds:.1f} CPU s = {results / add_seconds:,.0f} results/s "
        f"(batches incl. to_json+dumps: {build_seconds:.1f} CPU s)"
    )
    print(
        f"partial size (bytes/batch of {args.sessions_per_batch} sessions x {args.evaluators} evaluators): "
        f"min {min(sizes):,}  median {statistics.median(sizes):,.0f}  max {max(sizes):,}  "
        f"total {sum(sizes) / 1e6:,.1f} MB"
    )

    def merge() -> SummaryAccumulator:
        total = SummaryAccumulator()
        for text in partials:
            total.merge_json(msgspec.json.decode(text))
        return total

    began = time.process_time()
    total = merge()
    merge_seconds = time.process_time() - began
    began = time.process_time()
    summaries = total.summaries()
    summary_seconds = time.process_time() - began
    tracemalloc.start()
    merge()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    merged_bytes = len(msgspec.json.encode(total.to_json()))
    print(
        f"merge: {len(partials):,} partials in {merge_seconds:.1f} CPU s "
        f"({merge_seconds / len(partials) * 1e3:.2f} ms/partial); tracemalloc peak {peak / 1e6:.1f} MB; "
        f"merged state {merged_bytes:,} bytes; summaries() {summary_seconds * 1e3:.0f} ms"
    )
    print(f"merged results: {len(total):,} (expected {results:,})")
    for summary in summaries[: args.continuous + 1]:
        ext = summary.extended
        print(
            f"  {summary.evaluator_id}: n={ext['count']} mean={ext['mean']:.4f} p50={ext['p50']:.4f} "
            f"p90={ext['p90']:.4f} sketch={'quantileSketch' in ext} "
            f"scenarios={len(ext.get('byTestScenario', {}))} "
            f"omitted={ext.get('testScenariosOmittedResults', 0)}"
        )
    usage = total.judge_usage()
    print(
        f"judge tokens: {usage['totalTokens']:,}; estimated cost {usage.get('estimatedJudgeCostUsd', 'n/a')}"
    )
    print(f"wall time {time.perf_counter() - wall:.0f} s")


if __name__ == "__main__":
    main()
