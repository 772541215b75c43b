"""Judge-scheduling benchmark: the real RateLimitedJudge + RetryingJudge against a simulated Bedrock.

The simulated endpoint enforces a tokens-per-minute quota the way Bedrock does: a request is
admitted only if the sliding 60 s window of charges plus its own charge fits the quota; the charge
at admission is `input + burn x max_tokens` (Claude's 5x output burndown, max_tokens reserved up
front) and is settled to `input + burn x actual_output` when the response ends. Over quota it raises
ThrottlingException (fast, nothing charged). Latency is lognormal (median 2.5 s, clipped to 1-8 s);
inputs follow the cost model (median ~2k tokens, long tail).

    python -m benchmarks.judge_scheduling                   # 2,000 calls, scaled real time (60x)
    python -m benchmarks.judge_scheduling --clock virtual   # discrete-event clock, deterministic inputs
    python -m benchmarks.judge_scheduling --configured-tpm 1000000   # quota set 2x too high: AIMD
    python -m benchmarks.judge_scheduling --store dynamodb   # shared bucket, slot leases and queue, moto
    python -m benchmarks.judge_scheduling --clock virtual --store dynamodb \
        --calls 400 --workers 16 --invocations 4 --max-in-flight 4    # contended: fairness

Targets: >= 85 % of the quota in use in steady state, < 5 % throttled calls (issue 4); the slowest
call's end-to-end time within 3x of the median (issue 8: no caller starves).
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.integration.judges.dynamo import AtomicCalls

from batcheval.errors import JudgeError
from batcheval.judges.accounting import JudgeLedger
from batcheval.judges.base import JudgeRequest, JudgeResponse, TokenUsage
from batcheval.judges.clock import Clock
from batcheval.judges.leases_dynamodb import DynamoDBSlotLeases
from batcheval.judges.queue import InProcessTicketQueue, TicketQueue
from batcheval.judges.ratelimit import (
    BucketStore,
    InProcessBucketStore,
    InProcessSlotLeases,
    ModelLimits,
    RateLimitedJudge,
    RateLimiter,
    SlotLeases,
    default_burn_factor,
)
from batcheval.judges.retry import RetryingJudge, RetryPolicy

MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
CHARS_PER_TOKEN = 4


# --- clocks -----------------------------------------------------------------------------------


class ScaledClock:
    """Real time sped up `speed` times: one simulated minute lasts 60/speed real seconds."""

    def __init__(self, speed: float, start: float = 0.0) -> None:
        self.speed = speed
        self._start = start
        self._t0 = time.monotonic()

    def now(self) -> float:
        return self._start + (time.monotonic() - self._t0) * self.speed

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)


class VirtualClock:
    """Discrete-event time for threads: time jumps to the next wake-up once every worker sleeps.

    Workers `register()` before they start and `unregister()` when done. A thread that blocks on
    anything other than `sleep` would stall the clock, so the run keeps max_in_flight >= workers.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._cond = threading.Condition()
        self._now = start
        self._participants = 0
        self._sleepers: list[tuple[float, int]] = []
        self._woken: set[int] = set()
        self._seq = 0

    def register(self) -> None:
        with self._cond:
            self._participants += 1

    def unregister(self) -> None:
        with self._cond:
            self._participants -= 1
            self._advance()

    def now(self) -> float:
        with self._cond:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._cond:
            self._seq += 1
            ticket = self._seq
            heapq.heappush(self._sleepers, (self._now + max(0.0, seconds), ticket))
            self._advance()
            while ticket not in self._woken:
                self._cond.wait()
            self._woken.discard(ticket)

    def _advance(self) -> None:
        if not self._sleepers or len(self._sleepers) < self._participants:
            return
        self._now = max(self._now, self._sleepers[0][0])
        while self._sleepers and self._sleepers[0][0] <= self._now:
            self._woken.add(heapq.heappop(self._sleepers)[1])
        self._cond.notify_all()


# --- the simulated endpoint -------------------------------------------------------------------


@dataclass(slots=True)
class _Charge:
    start: float
    tokens: float
    live: bool = True


class QuotaWindow:
    """Bedrock-style TPM accounting: the sum of charges started in the last 60 s must fit the quota."""

    def __init__(self, tokens_per_minute: float, window_s: float = 60.0) -> None:
        self.tpm = tokens_per_minute
        self.window_s = window_s
        self._charges: deque[_Charge] = deque()
        self.total = 0.0
        self.peak = 0.0

    def _expire(self, now: float) -> None:
        while self._charges and self._charges[0].start <= now - self.window_s:
            old = self._charges.popleft()
            old.live = False
            self.total -= old.tokens

    def admit(self, now: float, tokens: float) -> _Charge | None:
        self._expire(now)
        if self.total + tokens > self.tpm:
            return None
        charge = _Charge(now, tokens)
        self._charges.append(charge)
        self.total += tokens
        self.peak = max(self.peak, self.total)
        return charge

    def settle(self, charge: _Charge, now: float, tokens: float) -> None:
        self._expire(now)
        if charge.live:
            self.total += tokens - charge.tokens
        charge.tokens = tokens


@dataclass(frozen=True, slots=True)
class CallPlan:
    """What the simulated model will do for one call (drawn up front, so runs are comparable)."""

    input_tokens: int
    output_tokens: int
    latency_s: float


@dataclass
class SimStats:
    admitted: list[tuple[float, float]] = field(default_factory=list)
    """(admission time, settled quota tokens) per successful call."""
    throttled_attempts: int = 0
    throttled_calls: set[int] = field(default_factory=set)
    attempts: int = 0
    model_latencies: list[float] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0
    """Most attempts the endpoint served at once (what the in-flight cap bounds)."""


class SimulatedBedrock:
    """A Judge that behaves like Bedrock Converse under a TPM quota (see module doc)."""

    def __init__(
        self,
        tokens_per_minute: float,
        plans: list[CallPlan],
        clock: Clock,
        *,
        burn_factor: float,
        model_id: str = MODEL,
    ) -> None:
        self.model_id = model_id
        self.window = QuotaWindow(tokens_per_minute)
        self._plans = plans
        self._clock = clock
        self._burn = burn_factor
        self._lock = threading.Lock()
        self.stats = SimStats()

    def judge(self, request: JudgeRequest) -> JudgeResponse:
        with self._lock:
            self.stats.in_flight += 1
            self.stats.peak_in_flight = max(self.stats.peak_in_flight, self.stats.in_flight)
        try:
            return self._judge(request)
        finally:
            with self._lock:
                self.stats.in_flight -= 1

    def _judge(self, request: JudgeRequest) -> JudgeResponse:
        call = int(request.metadata["call"])
        plan = self._plans[call]
        reserve = plan.input_tokens + self._burn * request.max_tokens
        with self._lock:
            now = self._clock.now()
            self.stats.attempts += 1
            charge = self.window.admit(now, reserve)
            if charge is None:
                self.stats.throttled_attempts += 1
                self.stats.throttled_calls.add(call)
        if charge is None:
            self._clock.sleep(0.05)
            raise JudgeError("ThrottlingException", "Too many tokens, please wait", retryable=True)
        self._clock.sleep(plan.latency_s)
        used = plan.input_tokens + self._burn * plan.output_tokens
        with self._lock:
            self.window.settle(charge, self._clock.now(), used)
            self.stats.admitted.append((charge.start, used))
            self.stats.model_latencies.append(plan.latency_s)
        return JudgeResponse(
            output={"label": "Yes"},
            usage=TokenUsage(plan.input_tokens, plan.output_tokens),
            model_id=request.model_id or self.model_id,
        )


def make_plans(calls: int, max_tokens: int, seed: int) -> list[CallPlan]:
    """Inputs: lognormal, median 2,000 tokens, p95 ~4,600, capped at 20k. Outputs: median 180."""
    rng = random.Random(seed)
    plans = []
    for _ in range(calls):
        input_tokens = min(20_000, max(300, int(rng.lognormvariate(math.log(2_000), 0.5))))
        output_tokens = min(max_tokens, max(40, int(rng.lognormvariate(math.log(180), 0.35))))
        latency = min(8.0, max(1.0, rng.lognormvariate(math.log(2.5), 0.45)))
        plans.append(CallPlan(input_tokens, output_tokens, latency))
    return plans


# --- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchConfig:
    calls: int = 2_000
    workers: int = 32
    tokens_per_minute: float = 500_000
    configured_tpm: float | None = None
    """What the limiter is told (None: the true quota). Wrong values exercise AIMD."""
    max_tokens: int = 300
    clock: str = "scaled"
    speed: float = 60.0
    seed: int = 42
    store: str = "memory"
    """`memory` (the in-process bucket, slots and queue, shared by the invocations) or `dynamodb`
    (DynamoDBBucketStore + DynamoDBSlotLeases + DynamoDBTicketQueue on moto, in-process)."""
    model: str = MODEL
    """Claude ids burn output 5x; e.g. `us.amazon.nova-lite-v1:0` burns 1x."""
    invocations: int = 1
    """Simulated Lambda invocations: the workers are split among this many separate limiters (and,
    on DynamoDB, separate store objects on the one table)."""
    max_in_flight: int | None = None
    """The cap per model (None: `workers`). Shared across invocations with `--store dynamodb`."""


@dataclass(frozen=True)
class BenchReport:
    calls: int
    succeeded: int
    failed: int
    throttled_calls_pct: float
    throttled_attempts_pct: float
    steady_utilisation_pct: float
    overall_utilisation_pct: float
    peak_window_pct: float
    peak_in_flight: int
    calls_per_min: float
    model_p50_s: float
    model_p95_s: float
    end_to_end_p50_s: float
    end_to_end_p95_s: float
    end_to_end_p99_s: float
    end_to_end_max_s: float
    wait_p50_s: float
    wait_p99_s: float
    wait_max_s: float
    simulated_min: float
    wall_s: float
    final_rate_tpm: float | None
    store_calls: dict[str, int] | None = None
    lease_calls: dict[str, int] | None = None
    queue_calls: dict[str, int] | None = None

    @property
    def end_to_end_ratio(self) -> float:
        """Slowest over median end-to-end time (fairness: issue 8 wants <= 3)."""
        return self.end_to_end_max_s / self.end_to_end_p50_s if self.end_to_end_p50_s > 0 else math.nan

    def lines(self) -> list[str]:
        return [
            f"calls                       {self.calls} ({self.succeeded} ok, {self.failed} failed)",
            f"quota utilisation, steady   {self.steady_utilisation_pct:.1f} %",
            f"quota utilisation, overall  {self.overall_utilisation_pct:.1f} %",
            f"peak 60 s window            {self.peak_window_pct:.1f} % of quota",
            f"peak in flight at endpoint  {self.peak_in_flight}",
            f"throttled calls             {self.throttled_calls_pct:.2f} % "
            f"(attempts: {self.throttled_attempts_pct:.2f} %)",
            f"calls/min                   {self.calls_per_min:.0f}",
            f"model latency p50/p95       {self.model_p50_s:.2f} s / {self.model_p95_s:.2f} s",
            f"end-to-end p50/p95/p99/max  {self.end_to_end_p50_s:.1f} s / {self.end_to_end_p95_s:.1f} s / "
            f"{self.end_to_end_p99_s:.1f} s / {self.end_to_end_max_s:.1f} s "
            f"(incl. waits; max/median {self.end_to_end_ratio:.2f})",
            f"wait p50/p99/max            {self.wait_p50_s:.1f} s / {self.wait_p99_s:.1f} s / "
            f"{self.wait_max_s:.1f} s (end-to-end minus the model's own latency)",
            f"simulated time              {self.simulated_min:.1f} min",
            f"wall time                   {self.wall_s:.1f} s",
            f"limiter rate at end         {self.final_rate_tpm or 0:.0f} TPM",
            *self._store_lines(),
        ]

    def _store_lines(self) -> list[str]:
        if not self.store_calls:
            return []
        per_call = self._per_call_store_ops()
        lines = [f"bucket table calls          {self.store_calls} ({per_call:.1f} per judge call)"]
        for name, counts in (("slot lease calls", self.lease_calls), ("queue calls", self.queue_calls)):
            if counts:
                per = (counts["reads"] + counts["writes"]) / max(1, self.calls)
                lines.append(f"{name:<28}{counts} ({per:.1f} per judge call)")
        return lines

    def _per_call_store_ops(self) -> float:
        assert self.store_calls is not None
        return (self.store_calls["reads"] + self.store_calls["writes"]) / max(1, self.calls)


@dataclass(frozen=True)
class _Invocation:
    """What one simulated Lambda invocation builds: its own store objects, on one shared table."""

    store: BucketStore
    leases: SlotLeases | None = None
    queue: TicketQueue | None = None


def _stores(config: BenchConfig, clock: Clock) -> list[_Invocation]:
    """Per invocation, its bucket store and (DynamoDB) its slot leases and queue, all on one table."""
    if config.store == "memory":
        # In-memory stand-ins for the shared table: one bucket, one set of slots, one queue.
        shared = _Invocation(InProcessBucketStore(), InProcessSlotLeases(), InProcessTicketQueue())
        return [shared] * config.invocations
    import boto3  # only this mode needs AWS (emulated)

    from batcheval.judges.queue_dynamodb import DynamoDBTicketQueue
    from batcheval.judges.ratelimit_dynamodb import DynamoDBBucketStore, bucket_table_definition

    client: Any = AtomicCalls(  # a DynamoDB client in all but name
        boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench"
        )
    )
    client.create_table(**bucket_table_definition("judge-buckets"))
    return [
        _Invocation(
            DynamoDBBucketStore(client, "judge-buckets", clock=clock, max_conflicts=1_000, seed=index),
            DynamoDBSlotLeases(client, "judge-buckets", lease_ttl_s=600, seed=config.seed + index),
            DynamoDBTicketQueue(client, "judge-buckets"),
        )
        for index in range(config.invocations)
    ]


def _summed(counts: list[dict[str, int]]) -> dict[str, int] | None:
    if not counts:
        return None
    return {name: sum(count[name] for count in counts) for name in counts[0]}


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(config: BenchConfig) -> BenchReport:
    clock: ScaledClock | VirtualClock = (
        VirtualClock() if config.clock == "virtual" else ScaledClock(config.speed)
    )
    plans = make_plans(config.calls, config.max_tokens, config.seed)
    burn = default_burn_factor(config.model)
    endpoint = SimulatedBedrock(
        config.tokens_per_minute, plans, clock, burn_factor=burn, model_id=config.model
    )
    ledger = JudgeLedger()
    limits = ModelLimits(
        tokens_per_minute=config.configured_tpm or config.tokens_per_minute,
        max_in_flight=config.max_in_flight or config.workers,
        acquire_timeout_s=3_600,
    )
    stores = _stores(config, clock)
    limiters = [
        RateLimiter(
            invocation.store,
            {config.model: limits},
            clock=clock,
            ledger=ledger,
            leases=invocation.leases,
            queue=invocation.queue,
        )
        for invocation in stores
    ]
    judges = [
        RetryingJudge(
            RateLimitedJudge(endpoint, limiter, model_id=config.model, ledger=ledger),
            RetryPolicy(max_attempts=8, max_elapsed_s=600),
            seed=config.seed + index,
            clock=clock,
            ledger=ledger,
            model_id=config.model,
        )
        for index, limiter in enumerate(limiters)
    ]
    pending = deque(range(config.calls))
    queue_lock = threading.Lock()
    end_to_end: list[float] = []
    waits: list[float] = []
    failures: list[str] = []

    def worker(judge: RetryingJudge) -> None:
        try:
            while True:
                with queue_lock:
                    if not pending:
                        return
                    call = pending.popleft()
                plan = plans[call]
                request = JudgeRequest(
                    system="rubric",
                    prompt="x" * (plan.input_tokens * CHARS_PER_TOKEN - 6),
                    output_schema={"type": "object"},
                    max_tokens=config.max_tokens,
                    metadata={"call": str(call)},
                )
                started = clock.now()
                try:
                    judge.judge(request)
                except JudgeError as error:
                    with queue_lock:
                        failures.append(error.code)
                    continue
                with queue_lock:
                    end_to_end.append(clock.now() - started)
                    waits.append(max(0.0, end_to_end[-1] - plan.latency_s))
        finally:
            if isinstance(clock, VirtualClock):
                clock.unregister()

    threads = [
        threading.Thread(target=worker, args=(judges[index % len(judges)],), daemon=True)
        for index in range(config.workers)
    ]
    if isinstance(clock, VirtualClock):
        for _ in threads:
            clock.register()
    wall_start = time.monotonic()
    sim_start = clock.now()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - wall_start
    sim_elapsed = clock.now() - sim_start

    stats = endpoint.stats
    admissions = sorted(stats.admitted)
    per_second = config.tokens_per_minute / 60
    lo = admissions[int(0.05 * len(admissions))][0] if admissions else 0.0
    hi = admissions[int(0.95 * len(admissions)) - 1][0] if admissions else 0.0
    steady = sum(tokens for start, tokens in admissions if lo <= start < hi)
    steady_pct = 100 * steady / (per_second * (hi - lo)) if hi > lo else math.nan
    overall = sum(tokens for _, tokens in admissions)
    return BenchReport(
        calls=config.calls,
        succeeded=len(end_to_end),
        failed=len(failures),
        throttled_calls_pct=100 * len(stats.throttled_calls) / config.calls,
        throttled_attempts_pct=100 * stats.throttled_attempts / max(1, stats.attempts),
        steady_utilisation_pct=steady_pct,
        overall_utilisation_pct=100 * overall / (per_second * sim_elapsed) if sim_elapsed else math.nan,
        peak_window_pct=100 * endpoint.window.peak / config.tokens_per_minute,
        peak_in_flight=stats.peak_in_flight,
        calls_per_min=len(end_to_end) / (sim_elapsed / 60) if sim_elapsed else math.nan,
        model_p50_s=statistics.median(stats.model_latencies) if stats.model_latencies else math.nan,
        model_p95_s=_percentile(stats.model_latencies, 0.95),
        end_to_end_p50_s=_percentile(end_to_end, 0.5),
        end_to_end_p95_s=_percentile(end_to_end, 0.95),
        end_to_end_p99_s=_percentile(end_to_end, 0.99),
        end_to_end_max_s=max(end_to_end, default=math.nan),
        wait_p50_s=_percentile(waits, 0.5),
        wait_p99_s=_percentile(waits, 0.99),
        wait_max_s=max(waits, default=math.nan),
        simulated_min=sim_elapsed / 60,
        wall_s=wall,
        final_rate_tpm=limiters[0].current_rate(config.model),
        store_calls=_summed([getattr(i.store, "counts", {}) for i in stores if hasattr(i.store, "counts")]),
        lease_calls=_summed([getattr(i.leases, "counts", {}) for i in stores if hasattr(i.leases, "counts")]),
        queue_calls=_summed([getattr(i.queue, "counts", {}) for i in stores if hasattr(i.queue, "counts")]),
    )


def _run_with_store(config: BenchConfig) -> BenchReport:
    if config.store != "dynamodb":
        return run(config)
    from moto import mock_aws

    with mock_aws():
        return run(config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.judge_scheduling", description=__doc__)
    defaults = BenchConfig()
    parser.add_argument("--calls", type=int, default=defaults.calls)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--tpm", type=float, default=defaults.tokens_per_minute, help="the true quota")
    parser.add_argument("--configured-tpm", type=float, default=None, help="what the limiter is told")
    parser.add_argument("--max-tokens", type=int, default=defaults.max_tokens)
    parser.add_argument("--clock", choices=["scaled", "virtual"], default=defaults.clock)
    parser.add_argument("--speed", type=float, default=defaults.speed, help="scaled clock speed-up")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--store", choices=["memory", "dynamodb"], default=defaults.store)
    parser.add_argument("--model", default=defaults.model, help="model id (sets the output burn factor)")
    parser.add_argument("--invocations", type=int, default=defaults.invocations, help="separate limiters")
    parser.add_argument("--max-in-flight", type=int, default=None, help="the cap (default: workers)")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    config = BenchConfig(
        calls=args.calls,
        workers=args.workers,
        tokens_per_minute=args.tpm,
        configured_tpm=args.configured_tpm,
        max_tokens=args.max_tokens,
        clock=args.clock,
        speed=args.speed,
        seed=args.seed,
        store=args.store,
        model=args.model,
        invocations=args.invocations,
        max_in_flight=args.max_in_flight,
    )
    if config.invocations < 1:
        parser.error("--invocations must be >= 1")
    if config.store == "dynamodb" and config.clock == "scaled":
        print("note: moto's per-call cost is scaled up with time; use --clock virtual with --store dynamodb")
    told = config.configured_tpm or config.tokens_per_minute
    speed = f" x{config.speed:.0f}" if config.clock == "scaled" else ""
    print(
        f"judge scheduling: {config.calls} calls, {config.workers} workers, "
        f"quota {config.tokens_per_minute:.0f} TPM (limiter told {told:.0f}), "
        f"max_tokens {config.max_tokens}, "
        f"burn x{default_burn_factor(config.model):.0f}, clock {config.clock}{speed}, store {config.store}, "
        f"{config.invocations} invocation(s), max in flight {config.max_in_flight or config.workers}"
    )
    ok = True
    for index in range(args.runs):
        report = _run_with_store(config)
        print(f"--- run {index + 1}")
        for line in report.lines():
            print("  " + line)
        ok = (
            ok
            and report.steady_utilisation_pct >= 85
            and report.throttled_calls_pct < 5
            and report.end_to_end_ratio <= 3
        )
    targets = ">= 85 % utilisation, < 5 % throttled, max/median end-to-end <= 3"
    print(f"targets ({targets}): " + ("MET" if ok else "NOT MET"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
