"""`batcheval evaluators` (list the registry) and `batcheval evaluate` (score exported spans in CI).

Exit codes: 0 when the run completed, even if some results are errors (they are data); 2 on usage
or input errors (unknown evaluator, unreadable or invalid files, no judge backend).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batcheval.errors import DomainError, ValidationError
from batcheval.evaluators.definitions import CustomEvaluatorDefinition
from batcheval.evaluators.registry import ALL_SPECS
from batcheval.evaluators.runner import DEFAULT_MAX_WORKERS

if TYPE_CHECKING:
    from batcheval.evaluators.ground_truth import GroundTruth
    from batcheval.traces.files import SessionLoad

USAGE_ERROR = 2
LAMBDA_READ_TIMEOUT_S = 310.0
"""Above the control plane's 300 s cap on lambdaTimeoutInSeconds."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = sub.add_parser("evaluators", help="list the evaluators (built-in, ours, custom)")
    listing.add_argument("--format", choices=("json", "table"), default="table")
    listing.add_argument("--custom-evaluators", metavar="FILE", help="JSON/YAML custom evaluator definitions")
    listing.set_defaults(handler=list_command)

    run = sub.add_parser("evaluate", help="evaluate exported spans without the service")
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
    run.add_argument("--format", choices=("json", "table"), default="json")
    run.set_defaults(handler=evaluate_command)


def _fail(message: str) -> int:
    print(f"batcheval: error: {message}", file=sys.stderr)
    return USAGE_ERROR


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
        print(json.dumps({"evaluators": rows}, indent=2, ensure_ascii=False))
        return 0
    print(
        _table(
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

    try:
        store = _custom_store(args.custom_evaluators, args.region)
        truth = _read_ground_truth(args.ground_truth) if args.ground_truth else None
        loaded = _load_sessions(args.spans)
    except (DomainError, OSError, ValueError) as exc:
        return _fail(str(getattr(exc, "message", exc)))
    clients = AwsClients(region=args.region)

    def judge() -> Judge:
        return make_judge(
            args.judge, clients=clients, model_id=args.model or _custom_judge_model(args, store)
        )

    def lambda_client() -> Any:
        # One attempt: a retried invoke would run the user's evaluator twice. The read timeout only
        # bounds a hung connection; each definition's own timeout is enforced by the evaluator.
        return clients.client("lambda", total_max_attempts=1, read_timeout=LAMBDA_READ_TIMEOUT_S)

    factory = EvaluatorFactory(judge=judge, store=store, lambda_client=lambda_client, model_id=args.model)
    try:
        # Build the judge now, so a bad --judge is a usage error rather than N error results.
        if any(factory.exists(e) and factory.needs_judge(e) for e in args.evaluators):
            factory.build_all(args.evaluators)
        report = evaluate_sessions(
            loaded.sessions,
            args.evaluators,
            factory=factory,
            ground_truth=truth,
            max_workers=args.max_workers,
        )
    except (DomainError, ValueError) as exc:
        return _fail(str(getattr(exc, "message", exc)))
    for skip in loaded.skipped:
        print(f"batcheval: warning: skipped {skip.count} record(s): {skip.reason}", file=sys.stderr)
    for warning in report.warnings:
        print(f"batcheval: warning: {warning}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(report.to_wire(), indent=2, ensure_ascii=False))
    else:
        print(_results_table(report.to_wire()))
    return 0


def _read_ground_truth(path: str) -> GroundTruth:
    """The ground-truth file, parsed; every error names the file (CI logs show several inputs)."""
    from batcheval.evaluators.ground_truth import parse_ground_truth

    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
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

    return load_sessions(path)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.extend("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells)
    return "\n".join(line.rstrip() for line in lines)


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
                "error": result.get("errorCode"),
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
            }
        )
    return (
        _table(rows, ["evaluator", "dimension", "session", "trace", "span", "label", "value", "error"])
        + "\n\n"
        + _table(
            summaries, ["evaluator", "dimension", "average", "evaluated", "failed", "p50", "p90", "passRate"]
        )
    )
