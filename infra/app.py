"""The CDK app: `python -m infra.app [-c key=value ...]` writes cdk.out/ (no npm CLI, no Docker).

cdk.json's `context` is read here as the CDK CLI would (the CLI, when used, passes it itself);
`-c batchevalConfigFile=path.json` or `-c batcheval='{...}'` override it.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aws_cdk import App, DefaultStackSynthesizer, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from infra.asl import DEFINITION_FILE, REPO_ROOT
from infra.caller_stack import CallerAccessStack
from infra.config import CONFIG_FILE_CONTEXT_KEY, CONTEXT_KEY, BatchEvalConfig, load_config
from infra.service_stack import ServiceStack

ASSET_DIR = REPO_ROOT / "build" / "lambda"
CDK_JSON = REPO_ROOT / "cdk.json"
CALLER_STACK_NAME = "BatchEvalCallerAccess"
CALLER_TEMPLATE = REPO_ROOT / "infra" / "templates" / "caller-access.template.json"


def cdk_json_context() -> dict[str, Any]:
    return dict(json.loads(CDK_JSON.read_text()).get("context", {}))


def service_stack_name(config: BatchEvalConfig) -> str:
    return f"BatchEval-{config.stage}"


def build_app(
    context: Mapping[str, Any] | None = None,
    *,
    asset_dir: Path = ASSET_DIR,
    definition_file: Path = DEFINITION_FILE,
    outdir: str | None = None,
    with_caller_stack: bool = True,
) -> App:
    """The app with both stacks and the AwsSolutions checks; `context` overrides cdk.json's."""
    merged = {**cdk_json_context(), **(context or {})}
    app = App(context=merged, outdir=outdir)
    config = load_config(
        {key: app.node.try_get_context(key) for key in (CONTEXT_KEY, CONFIG_FILE_CONTEXT_KEY)}
    )
    env = Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    )
    ServiceStack(
        app,
        service_stack_name(config),
        config=config,
        asset_dir=asset_dir,
        definition_file=definition_file,
        env=env,
    )
    if with_caller_stack:
        caller_stack(app)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def caller_stack(app: App) -> CallerAccessStack:
    # No bootstrap rule or asset: the template deploys as plain CloudFormation in any account.
    return CallerAccessStack(
        app, CALLER_STACK_NAME, synthesizer=DefaultStackSynthesizer(generate_bootstrap_version_rule=False)
    )


def caller_template() -> dict[str, Any]:
    """The caller stack as a plain CloudFormation template (no CDK metadata)."""
    app = App(context={**cdk_json_context(), "aws:cdk:enable-path-metadata": False})
    stack = caller_stack(app)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    assembly = app.synth()
    template: dict[str, Any] = assembly.get_stack_by_name(stack.stack_name).template
    return template


def _context_arguments(values: Sequence[str]) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for item in values:
        key, separator, value = item.partition("=")
        if not separator:
            raise SystemExit(f"-c expects key=value, got {item!r}")
        try:
            context[key] = json.loads(value)
        except json.JSONDecodeError:
            context[key] = value
    return context


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.app", description=__doc__)
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--caller-template", type=Path, help="write the caller stack's plain template here")
    args = parser.parse_args(argv)
    if args.caller_template is not None:
        args.caller_template.write_text(json.dumps(caller_template(), indent=1, sort_keys=True) + "\n")
        return
    outdir = os.environ.get("CDK_OUTDIR") or str(REPO_ROOT / "cdk.out")
    build_app(_context_arguments(args.context), outdir=outdir).synth()


if __name__ == "__main__":
    main()
