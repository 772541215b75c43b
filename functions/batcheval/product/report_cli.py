"""`batcheval report SOURCE` and `batcheval compare BASELINE CANDIDATE`.

A SOURCE is a result file (the job export's JSON Lines, or `batcheval evaluate --format json`
output) when such a file exists, else a job id whose results are fetched (S3 export or output
log group) through the API given by the connection options.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from batcheval.errors import DomainError
from batcheval.product.connection import add_connection_options, make_client
from batcheval.product.output import fail, note, table, to_json
from batcheval.product.results_source import ResultSet, load_file
from batcheval.product.service_errors import report as report_service_error

REGRESSION = 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser(
        "report",
        help="HTML and Markdown report of a job or result file",
        description="Write a self-contained HTML report (charts work offline) and/or Markdown for a "
        "pull-request comment: score distributions, pass rates with thresholds, breakdown by testScenarioId, "
        "worst sessions with explanations, token and cost totals, optionally a comparison with a baseline. "
        "Without --html or --markdown, the Markdown goes to stdout.",
    )
    report.add_argument("run", metavar="JOB_ID|FILE")
    report.add_argument("--html", metavar="FILE", help="write the HTML report here")
    report.add_argument("--markdown", metavar="FILE", help="write the Markdown report here")
    report.add_argument("--baseline", metavar="JOB_ID|FILE", help="add a comparison with this baseline run")
    report.add_argument("--title", help="report title (default: from the source)")
    report.add_argument(
        "--price",
        metavar="IN:OUT",
        help="judge price in USD per million input:output tokens, e.g. 1:5 (shows cost)",
    )
    _comparison_options(report)
    _source_options(report)
    report.set_defaults(handler=lambda args: _guarded(run_report, args))

    compare = sub.add_parser(
        "compare",
        help="compare two runs: paired deltas, bootstrap CIs, significance; a CI gate",
        description="Compare a candidate run with a baseline (jobs or result files). Sessions are paired by "
        "testScenarioId, else session id; per evaluator: mean paired effect, its 95%% bootstrap CI and a "
        "paired sign-flip permutation test (seeded). With --fail-on-regression the exit code is 1 when an "
        "evaluator regresses: mean effect below -MIN_DELTA with p < ALPHA.",
    )
    compare.add_argument("baseline", metavar="BASELINE")
    compare.add_argument("candidate", metavar="CANDIDATE")
    compare.add_argument(
        "--format",
        choices=("table", "json", "markdown"),
        default="table",
        help="output format (default table)",
    )
    compare.add_argument(
        "--fail-on-regression", action="store_true", help="exit 1 when any evaluator regresses"
    )
    _comparison_options(compare)
    _source_options(compare)
    compare.set_defaults(handler=lambda args: _guarded(run_compare, args))


def _comparison_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    parser.add_argument(
        "--min-delta", type=float, default=0.0, help="smallest effect that counts as a regression (default 0)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the bootstrap and permutations (default 0)"
    )


def _source_options(parser: argparse.ArgumentParser) -> None:
    from batcheval.product.job_results import add_data_options

    add_connection_options(parser)
    add_data_options(parser)


def _guarded(run: Any, args: argparse.Namespace) -> int:
    try:
        code: int = run(args)
        return code
    except (ClientError, BotoCoreError) as error:
        return report_service_error(error)
    except DomainError as error:
        return fail(error.message)


def load_source(source: str, args: argparse.Namespace, client: list[Any]) -> ResultSet:
    """A result file if `source` is an existing path, else a job id (one API client, made on first use)."""
    if Path(source).exists():
        return load_file(source)
    from batcheval.product.job_results import load_job

    if not client:
        client.append(make_client(args))
    return load_job(client[0], source, args)


def _price(text: str | None) -> Any:
    from batcheval.errors import ValidationError
    from batcheval.product.report_data import Price

    if text is None:
        return None
    try:
        tokens_in, tokens_out = (float(part) for part in text.split(":"))
    except ValueError as exc:
        raise ValidationError(
            f"--price wants IN:OUT in USD per million tokens, e.g. 3:15, got {text!r}"
        ) from exc
    return Price(tokens_in, tokens_out)


def _compare(baseline: ResultSet, candidate: ResultSet, args: argparse.Namespace) -> Any:
    from batcheval.product.compare import compare

    return compare(
        baseline.label,
        baseline.results,
        candidate.label,
        candidate.results,
        alpha=args.alpha,
        min_delta=args.min_delta,
        seed=args.seed,
    )


def run_report(args: argparse.Namespace) -> int:
    from batcheval.product import report_data, report_markdown

    client: list[Any] = []
    source = load_source(args.run, args, client)
    data = report_data.build(
        args.title or f"batcheval report: {source.label}",
        "job " + str(source.job["batchEvaluationId"]) if source.job else f"file {source.label}",
        source.results,
        price=_price(args.price),
        job=source.job,
    )
    if args.baseline:
        data.comparison = _compare(load_source(args.baseline, args, client), source, args)
    markdown = report_markdown.render(data)
    if args.html:
        from batcheval.product import report_html

        Path(args.html).write_text(report_html.render(data), encoding="utf-8")
        note(f"HTML report written to {args.html}")
    if args.markdown:
        Path(args.markdown).write_text(markdown, encoding="utf-8")
        note(f"Markdown report written to {args.markdown}")
    if not args.html and not args.markdown:
        print(markdown, end="")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from batcheval.product.report_markdown import comparison_lines

    client: list[Any] = []
    comparison = _compare(
        load_source(args.baseline, args, client), load_source(args.candidate, args, client), args
    )
    if args.format == "json":
        print(to_json(comparison.to_json()))
    elif args.format == "markdown":
        print("\n".join(comparison_lines(comparison)))
    else:
        print(_comparison_text(comparison))
    if args.fail_on_regression and comparison.regressed:
        return REGRESSION
    return 0


def _comparison_text(comparison: Any) -> str:
    rows = [
        {
            "evaluator": e.evaluator,
            "pairs": e.pairs,
            "baseline": e.baseline_mean,
            "candidate": e.candidate_mean,
            "effect": None if e.mean_effect is None else f"{e.mean_effect:+.3f}",
            "95% CI": None if e.ci95 is None else f"[{e.ci95[0]:+.3f}, {e.ci95[1]:+.3f}]",
            "p": None if e.p_value is None else f"{e.p_value:.4f}",
            "verdict": "REGRESSED" if e.regressed else "",
        }
        for e in comparison.evaluators
    ]
    lines = [
        f"baseline {comparison.baseline} vs candidate {comparison.candidate}; "
        f"matched by {comparison.matched_by}",
        table(rows, ["evaluator", "pairs", "baseline", "candidate", "effect", "95% CI", "p", "verdict"]),
    ]
    if comparison.only_baseline or comparison.only_candidate:
        lines += [
            "",
            "unmatched: only in baseline: " + (", ".join(comparison.only_baseline) or "-"),
            "           only in candidate: " + (", ".join(comparison.only_candidate) or "-"),
        ]
    regressions = [(e, d) for e in comparison.evaluators for d in e.regressions]
    if regressions:
        lines += ["", "regressed sessions (effect < -min delta):"]
        for evaluator, delta in regressions:
            lines.append(
                f"  {delta.unit}  {evaluator.evaluator}  "
                f"{delta.baseline.score:.3f} -> {delta.candidate.score:.3f}  ({delta.effect:+.3f})"
            )
            lines.append(f"    baseline:  {' / '.join(delta.baseline.explanations) or '-'}")
            lines.append(f"    candidate: {' / '.join(delta.candidate.explanations) or '-'}")
    verdict = "REGRESSION" if comparison.regressed else "no significant regression"
    lines += [
        "",
        f"{verdict} (alpha {comparison.alpha}, min delta {comparison.min_delta}, seed {comparison.seed})",
    ]
    return "\n".join(lines)
