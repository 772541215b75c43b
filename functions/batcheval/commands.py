"""The registry of CLI sub-commands. Each feature adds one line here and a `register` function."""

from __future__ import annotations

import argparse


def register_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register every sub-command. Each `register` sets `handler` on its parser via set_defaults."""
    # Features add their registration below, one import + one call each.
    from batcheval.local.cli import register as register_local_server

    register_local_server(sub)  # serve, demo

    from batcheval.evaluators.cli import register as register_evaluators

    register_evaluators(sub)

    from batcheval.traces.cli import register as register_inspect

    register_inspect(sub)

    from batcheval.product.jobs_cli import register as register_jobs

    register_jobs(sub)  # start, get, list, stop, delete, watch, retry-failed, results

    from batcheval.product.report_cli import register as register_reports

    register_reports(sub)  # report, compare
