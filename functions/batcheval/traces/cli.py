"""`batcheval inspect --spans FILE [--format json|table]`: show how spans were understood."""

from __future__ import annotations

import argparse
import sys

import msgspec

from batcheval.traces.files import load_sessions
from batcheval.traces.render import inspect_json, inspect_table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "inspect",
        help="show how agent spans are understood (sessions, turns, tools, models, skipped records)",
        description=(
            "Read FILE (JSON Lines of span documents / event records as CloudWatch stores them, or the "
            "JSON printed by `aws logs filter-log-events`) and show the sessions evaluators would see."
        ),
    )
    parser.add_argument("--spans", required=True, metavar="FILE", help="spans file to read")
    parser.add_argument("--format", choices=("json", "table"), default="table", help="output format")
    parser.set_defaults(handler=run_inspect)


def run_inspect(args: argparse.Namespace) -> int:
    try:
        load = load_sessions(args.spans, keep_raw=False)
    except (OSError, ValueError) as exc:
        print(
            f"batcheval inspect: cannot read {args.spans}: {getattr(exc, 'strerror', None) or exc}",
            file=sys.stderr,
        )
        return 2
    if args.format == "json":
        text = msgspec.json.format(
            msgspec.json.encode(inspect_json(load.sessions, load.skipped)), indent=2
        ).decode()
    else:
        text = inspect_table(load.sessions, load.skipped)
    print(text, flush=True)  # a closed pipe (`| head`) is handled once, in `batcheval.cli.main`
    return 0
