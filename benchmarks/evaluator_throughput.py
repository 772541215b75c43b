"""Evaluator throughput, judge prompt sizes and aggregation cost on synthetic sessions.

Run: `.venv/bin/python -m benchmarks.evaluator_throughput [--sessions N] [--judge-latency-ms MS]`.

1. Code evaluators (zero tokens) over N sessions: results per second.
2. LLM-judge built-ins against a scripted judge that sleeps a fixed latency, at several pool
   sizes: shows the runner overlaps judge calls (wall time ~ calls * latency / workers).
3. Judge prompt sizes (characters) for a TRACE and a SESSION rubric, on sessions with tool outputs
   of up to 50k characters: the transcript stays bounded.
4. `summarize` over all code results (bootstrap CI included).
Everything random is seeded.
"""

from __future__ import annotations

import argparse
import functools
import random
import statistics
import time

from batcheval.evaluators.factory import EvaluatorFactory
from batcheval.evaluators.report import evaluate_sessions
from batcheval.evaluators.runner import run_evaluations
from batcheval.judges.base import JudgeRequest
from batcheval.judges.fake import ScriptedJudge
from batcheval.results.aggregate import summarize
from batcheval.traces.model import ModelCall, Session, ToolCall, Turn

CODE_EVALUATORS = [
    "Builtin.TrajectoryExactOrderMatch",
    "Builtin.TrajectoryInOrderMatch",
    "Builtin.TrajectoryAnyOrderMatch",
    "ThirdParty.Batcheval.ToolErrorRate",
    "ThirdParty.Batcheval.RepeatedToolCalls",
    "ThirdParty.Batcheval.TurnLatency",
    "ThirdParty.Batcheval.TokenUsage",
]
TOOLS = ["search_flights", "book_flight", "get_weather", "lookup_order", "refund", "kb_search"]


def make_sessions(n: int, seed: int = 7) -> list[Session]:
    rng = random.Random(seed)
    sessions = []
    for s in range(n):
        turns = []
        clock = 0
        for t in range(rng.randint(1, 5)):
            calls = []
            for c in range(rng.randint(0, 4)):
                size = rng.choice([200, 800, 3_000, 50_000])
                calls.append(
                    ToolCall(
                        name=rng.choice(TOOLS),
                        span_id=f"{s:06x}{t:02x}{c:08x}",
                        arguments=f'{{"q": "{rng.randint(0, 3)}"}}',
                        result="r" * size,
                        status="error" if rng.random() < 0.1 else "success",
                    )
                )
            start = clock
            clock += rng.randint(500_000_000, 20_000_000_000)
            turns.append(
                Turn(
                    trace_id=f"{s:024x}{t:08x}",
                    span_id=f"{s:08x}{t:08x}",
                    user_input=f"Please help me with request {t} " + "x" * rng.randint(20, 400),
                    agent_response="Here is what I found " + "y" * rng.randint(50, 2_000),
                    tool_calls=tuple(calls),
                    model_calls=(
                        ModelCall(f"m{s}{t}", input_tokens=rng.randint(500, 5_000), output_tokens=200),
                    ),
                    start_time_ns=start,
                    end_time_ns=clock,
                    available_tools=tuple(TOOLS),
                )
            )
        sessions.append(Session(session_id=f"sess-{s}", turns=tuple(turns)))
    return sessions


def bench_code(sessions: list[Session]) -> None:
    factory = EvaluatorFactory()
    start = time.perf_counter()
    report = evaluate_sessions(sessions, CODE_EVALUATORS, factory=factory, max_workers=1)
    elapsed = time.perf_counter() - start
    n = len(report.results)
    print(
        f"code evaluators: {len(sessions)} sessions x {len(CODE_EVALUATORS)} evaluators -> {n} results "
        f"in {elapsed:.2f} s ({n / elapsed:,.0f} results/s, {len(sessions) / elapsed:,.0f} sessions/s), "
        f"0 judge tokens"
    )
    start = time.perf_counter()
    summarize(report.results)
    print(f"summarize: {n} results in {time.perf_counter() - start:.3f} s (incl. seeded bootstrap CIs)")


def bench_judge(sessions: list[Session], latency_ms: float) -> None:
    def respond(request: JudgeRequest) -> dict[str, str]:
        time.sleep(latency_ms / 1000)
        return {"explanation": "ok", "label": request.output_schema["properties"]["label"]["enum"][-1]}

    subset = sessions[:60]
    for workers in (1, 8, 32):
        judge = ScriptedJudge(responder=respond)
        factory = EvaluatorFactory(judge=functools.partial(lambda j: j, judge))
        evaluators = factory.build_all(["Builtin.Helpfulness", "Builtin.GoalSuccessRate"])
        start = time.perf_counter()
        results = run_evaluations(subset, evaluators, max_workers=workers)
        elapsed = time.perf_counter() - start
        print(
            f"judge built-ins, {latency_ms:.0f} ms/call, {workers:>2} workers: {len(results)} calls in "
            f"{elapsed:.2f} s ({len(results) / elapsed:,.1f} calls/s)"
        )


def bench_prompts(sessions: list[Session]) -> None:
    judge = ScriptedJudge(responder=lambda r: {"explanation": "", "label": "Yes"})
    factory = EvaluatorFactory(judge=lambda: judge)
    run_evaluations(
        sessions[:300], factory.build_all(["Builtin.Helpfulness", "Builtin.GoalSuccessRate"]), max_workers=4
    )
    for name in ("Builtin.Helpfulness", "Builtin.GoalSuccessRate"):
        sizes = sorted(
            len(r.system) + len(r.prompt) for r in judge.requests if r.metadata["evaluatorId"] == name
        )
        p95 = sizes[int(0.95 * (len(sizes) - 1))]
        print(
            f"prompt chars {name}: n={len(sizes)} p50={statistics.median(sizes):,.0f} p95={p95:,} "
            f"max={sizes[-1]:,} (~{sizes[-1] / 4:,.0f} tokens max)"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--judge-latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    sessions = make_sessions(args.sessions)
    bench_code(sessions)
    bench_prompts(sessions)
    bench_judge(sessions, args.judge_latency_ms)


if __name__ == "__main__":
    main()
