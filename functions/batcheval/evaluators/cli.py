"""`batcheval evaluators` (list the registry) and `batcheval evaluate` (score exported spans in CI).

Exit codes: 0 when the run completed, even if some results are errors (they are data); 1 when every
LLM-judge result is unscored because the judge could not be reached (a run that judged nothing is not
a success); 2 on usage or input errors (unknown evaluator, unreadable or invalid files, a file without
any session, no judge backend).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from batcheval.errors import DomainError, ValidationError
from batcheval.evaluators.definitions import CustomEvaluatorDefinition
from batcheval.evaluators.registry import ALL_SPECS
from batcheval.evaluators.runner import DEFAULT_MAX_WORKERS
from batcheval.product.output import SERVICE_ERROR, fail, note, table, warn
from batcheval.product.views import pass_rule, reason

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

    from batcheval.evaluators.ground_truth import GroundTruth
    from batcheval.product.progress import ProgressSink
    from batcheval.results.records import EvaluationResult
    from batcheval.traces.files import SessionLoad

LAMBDA_READ_TIMEOUT_S = 310.0
"""Above the control plane's 300 s cap on lambdaTimeoutInSeconds."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = sub.add_parser(
        "evaluators",
        help="list the evaluators (built-in, ours, custom)",
        description="List every evaluator id a job or `batcheval evaluate` accepts: AgentCore's "
        "built-ins (Builtin.*), batcheval's zero-token evaluators (ThirdParty.Batcheval.*) and custom "
        "definitions. Columns: level = what one result scores (SESSION, TRACE = one turn, TOOL_CALL); "
        "kind = llm_judge (needs a judge) or code; inLaunchSet = part of AgentCore's launch set of "
        "built-ins (yes) or added later / ours (no); ratingScale and polarity = how to read a score; "
        "groundTruthFields = the ground truth it uses.",
    )
    listing.add_argument(
        "--format",
        choices=("json", "table"),
        default="table",
        help="table for people (default), json for scripts",
    )
    listing.add_argument("--custom-evaluators", metavar="FILE", help="JSON/YAML custom evaluator definitions")
    listing.set_defaults(handler=list_command)

    run = sub.add_parser(
        "evaluate",
        help="evaluate exported spans without the service",
        description="Score the agent sessions in a spans file with the given evaluators, on this machine "
        "(no service, no job). Prints every result and the per-evaluator summary. Progress goes to "
        "stderr. Exit 0 when the run completed (unscored results say why in errorCode), 1 when the judge "
        "could not be reached for any LLM-judge result, 2 on usage or input errors.",
    )
    run.add_argument("--spans", required=True, metavar="FILE", help="spans file (as for `batcheval inspect`)")
    run.add_argument("--ground-truth", metavar="FILE", help="JSON list of sessionMetadata entries")
    run.add_argument(
        "--evaluator",
        action="append",
        required=True,
        metavar="ID",
        dest="evaluators",
        help="evaluator id (repeatable): Builtin.*, ThirdParty.Batcheval.*, or a custom id",
    )
    run.add_argument("--custom-evaluators", metavar="FILE", help="JSON/YAML custom evaluator definitions")
    run.add_argument(
        "--judge",
        default="bedrock",
        metavar="bedrock|openai:URL",
        help="judge backend for LLM evaluators (default: bedrock); built only if one is requested",
    )
    run.add_argument("--model", metavar="MODEL_ID", help="judge model id (default: the backend's)")
    run.add_argument("--region", default="us-east-1", help="AWS region for Bedrock and Lambda")
    run.add_argument(
        "--max-workers", type=int, default=DEFAULT_MAX_WORKERS, help="evaluations run at once (default 8)"
    )
    run.add_argument(
        "--format",
        choices=("json", "table"),
        default="json",
        help="json (default): {results, evaluatorSummaries} as a result file for report/compare; "
        "table: results with the reason of each unscored one, and the summary with pass thresholds",
    )
    run.set_defaults(handler=evaluate_command)


_fail = fail
JUDGE_UNREACHABLE_CODES = frozenset({"JudgeUnavailable", "JudgeNotConfigured", "ModelTimeout"})
"""errorCodes that mean the judge was never heard from (as opposed to a verdict that was unusable)."""


def _custom_store(path: str | None, region: str = "us-east-1") -> Any:
    if path is None:
        return None
    from batcheval.evaluators.store import FileEvaluatorStore

    return FileEvaluatorStore(path, region=region)


def list_command(args: argparse.Namespace) -> int:
    try:
        store = _custom_store(args.custom_evaluators)
    except (DomainError, OSError) as exc:
        return _fail(str(getattr(exc, "message", exc)))
    custom: list[CustomEvaluatorDefinition] = store.list() if store is not None else []
    rows = [spec.to_dict() for spec in ALL_SPECS] + [d.to_dict() for d in custom]
    if args.format == "json":
        print(msgspec.json.format(msgspec.json.encode({"evaluators": rows}), indent=2).decode())
        return 0
    print(
        table(
            rows,
            ["evaluatorId", "level", "kind", "inLaunchSet", "ratingScale", "polarity", "groundTruthFields"],
        )
    )
    return 0


def evaluate_command(args: argparse.Namespace) -> int:
    from batcheval.aws import AwsClients
    from batcheval.evaluators.factory import EvaluatorFactory
    from batcheval.evaluators.report import evaluate_sessions
    from batcheval.judges.base import Judge
    from batcheval.judges.factory import make_judge
    from batcheval.judges.settings import JudgeSettings
    from batcheval.product.progress import progress

    try:
        store = _custom_store(args.custom_evaluators, args.region)
        truth = _read_ground_truth(args.ground_truth) if args.ground_truth else None
        loaded = _load_sessions(args.spans)
    except (DomainError, OSError, ValueError) as exc:
        return _fail(str(getattr(exc, "message", exc)))
    for skip in loaded.skipped:
        warn(f"skipped {skip.count} record(s): {skip.reason}")
    if not loaded.sessions:
        return _fail(
            f"{args.spans}: no agent session found (expected span documents / event records as "
            "CloudWatch stores them; `batcheval inspect --spans FILE` shows how a file is read)"
        )
    clients = AwsClients(region=args.region)

    def judge() -> Judge:
        # The shell's judge variables, as the factory read them before it stopped reading any: the
        # backend's model (after --model and the custom evaluators'), the API key, TPM and in-flight cap.
        shell = JudgeSettings.from_env()
        return make_judge(
            args.judge,
            clients=clients,
            model_id=args.model or _custom_judge_model(args, store) or shell.default_model_for(args.judge),
            api_key=shell.api_key(),
            tokens_per_minute=shell.tokens_per_minute,
            max_in_flight=shell.max_in_flight,
        )

    def lambda_client() -> LambdaClient:
        # One attempt: a retried invoke would run the user's evaluator twice. The read timeout only
        # bounds a hung connection; each definition's own timeout is enforced by the evaluator.
        return clients.client("lambda", total_max_attempts=1, read_timeout=LAMBDA_READ_TIMEOUT_S)

    factory = EvaluatorFactory(judge=judge, store=store, lambda_client=lambda_client, model_id=args.model)
    try:
        # Build the judge now, so a bad --judge is a usage error rather than N error results.
        if any(factory.exists(e) and factory.needs_judge(e) for e in args.evaluators):
            factory.build_all(args.evaluators)
        with progress("evaluating", total=len(loaded.sessions)) as bar:
            counter = SessionCounter(bar)
            report = evaluate_sessions(
                loaded.sessions,
                args.evaluators,
                factory=factory,
                ground_truth=truth,
                max_workers=args.max_workers,
                on_results=counter.add,
            )
            counter.finish(len(loaded.sessions))
    except (DomainError, ValueError) as exc:
        return _fail(str(getattr(exc, "message", exc)))
    for warning in report.warnings:
        warn(warning)
    wire = report.to_wire()
    _add_scenarios(wire["results"], truth)
    if args.format == "json":
        print(msgspec.json.format(msgspec.json.encode(wire), indent=2).decode())
    else:
        print(_results_table(wire))
    unreachable = _judge_unreachable(report.results, factory)
    if unreachable is not None:
        return _fail(unreachable, SERVICE_ERROR)
    return 0


def _add_scenarios(results: list[dict[str, Any]], truth: GroundTruth | None) -> None:
    """`testScenarioId` on each result whose session's ground truth names one (as the job export does),
    so `batcheval report` and `compare` can group and pair by scenario."""
    if truth is None:
        return
    for result in results:
        entry = truth.sessions.get(result["context"]["spanContext"]["sessionId"])
        if entry is not None and entry.test_scenario_id:
            result["testScenarioId"] = entry.test_scenario_id


class SessionCounter:
    """Sessions done / failed from results emitted in session order (the runner's guarantee)."""

    def __init__(self, sink: ProgressSink) -> None:
        self._sink = sink
        self._current: str | None = None
        self._done = 0
        self._failed: set[str] = set()

    def add(self, batch: list[EvaluationResult]) -> None:
        for result in batch:
            session = result.context.session_id
            if result.failed:
                self._failed.add(session)
            if session != self._current:
                if self._current is not None:
                    self._done += 1
                self._current = session
        self._sink.update(self._done, len(self._failed))

    def finish(self, total: int) -> None:
        self._sink.update(total, len(self._failed))


def _judge_unreachable(results: list[EvaluationResult], factory: Any) -> str | None:
    """A plain sentence when every LLM-judge result is unscored because the judge was never reached."""
    judged = [r for r in results if factory.exists(r.evaluator_id) and factory.needs_judge(r.evaluator_id)]
    if not judged or any(r.error_code not in JUDGE_UNREACHABLE_CODES for r in judged):
        return None
    first = judged[0]
    return (
        f"the judge could not be reached: all {len(judged)} LLM-judge result(s) are unscored "
        f"({first.error_code}: {first.error_message}). "
        "Check --judge / --model and the endpoint or credentials."
    )


def _read_ground_truth(path: str) -> GroundTruth:
    """The ground-truth file, parsed; every error names the file (CI logs show several inputs)."""
    from batcheval.evaluators.ground_truth import parse_ground_truth

    try:
        entries = msgspec.json.decode(Path(path).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValidationError(f"{path}: not valid JSON: {exc}") from exc
    try:
        return parse_ground_truth(entries)
    except ValidationError as exc:
        raise ValidationError(f"{path}: {exc.message}", fields=exc.fields) from exc


def _custom_judge_model(args: argparse.Namespace, store: Any) -> str | None:
    """The judge's default model when only custom LLM / derived evaluators need one.

    Each of those names its own model in every request, so `--model` would be noise; the first of
    their models serves as the backend's default. None as soon as a built-in LLM judge is asked for
    (it needs `--model` or the backend's default).
    """
    from batcheval.evaluators.definitions import CodeConfig
    from batcheval.evaluators.registry import get_spec

    models = []
    for evaluator_id in args.evaluators:
        spec = get_spec(evaluator_id)
        if spec is not None:
            if spec.kind == "llm_judge":
                return None
            continue
        definition = store.get(evaluator_id) if store is not None else None
        if definition is not None and not isinstance(definition.config, CodeConfig):
            models.append(definition.config.model.model_id)
    return models[0] if models else None


def _load_sessions(path: str) -> SessionLoad:
    from batcheval.traces.files import load_sessions

    note(f"reading {path} ...")
    started = time.monotonic()
    loaded = load_sessions(path)
    note(f"read {len(loaded.sessions)} session(s) in {time.monotonic() - started:.1f} s")
    return loaded


def _results_table(wire: dict[str, Any]) -> str:
    rows = []
    for result in wire["results"]:
        span = result["context"]["spanContext"]
        rows.append(
            {
                "evaluator": result["evaluatorId"],
                "dimension": result.get("evaluationDimensionName"),
                "session": span["sessionId"],
                "trace": span.get("traceId"),
                "span": span.get("spanId"),
                "label": result.get("label"),
                "value": result.get("value"),
                "unscored because": reason(result),
            }
        )
    summaries = []
    for summary in wire["evaluatorSummaries"]:
        ext = summary.get("extendedStatistics", {})
        summaries.append(
            {
                "evaluator": summary["evaluatorId"],
                "dimension": summary.get("evaluationDimensionName"),
                "average": summary["statistics"].get("averageScore"),
                "evaluated": summary["totalEvaluated"],
                "failed": summary["totalFailed"],
                "p50": ext.get("p50"),
                "p90": ext.get("p90"),
                "passRate": ext.get("passRate"),
                "passes when": pass_rule(ext),
            }
        )
    columns = ["evaluator", "dimension", "session", "trace", "span", "label", "value", "unscored because"]
    return (
        table(rows, columns)
        + "\n\n"
        + table(
            summaries,
            [
                *("evaluator", "dimension", "average", "evaluated", "failed"),
                "p50",
                "p90",
                "passRate",
                "passes when",
            ],
        )
    )
