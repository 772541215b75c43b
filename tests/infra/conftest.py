"""Synthesize the app once per configuration for every infrastructure test (offline, no Docker).

The Lambda asset is a stand-in folder (the real one is `make lambda-asset`; its content does not
change the template beyond a hash). The state machine definition is the real
`statemachine/batch_evaluation.asl.json`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from infra.asl import DEFINITION_FILE
from infra.config import CONTEXT_KEY

SERVICE_ACCOUNT = "999999999999"
CALLER = "111111111111"
ORG = "o-abcdefghij"

FULL_CONFIG: dict[str, Any] = {
    "stage": "test",
    "allowedAccountIds": [CALLER, "222222222222"],
    "allowedOrganizationId": ORG,
    "callerExternalId": "batcheval-test-external-id",
    "alarmEmail": "ops@example.com",
    "judge": {"modelIds": ["us.anthropic.claude-haiku-4-5-20251001-v1:0", "amazon.nova-lite-v1:0"]},
    "evaluatorFunctionArns": ["arn:aws:lambda:us-east-1:999999999999:function:my-evaluator"],
    "schedules": [
        {
            "name": "nightly",
            "expression": "cron(0 2 * * ? *)",
            "timezone": "Europe/Berlin",
            "flexibleWindowMinutes": 15,
            "window": {"lookbackMinutes": 1440, "settleMinutes": 10},
            "job": json.loads((Path(__file__).parents[2] / "events" / "scheduled_start.json").read_text())[
                "job"
            ],
        },
        {
            "name": "hourly",
            "expression": "rate(1 hour)",
            "ownerAccountId": CALLER,
            "window": {"lookbackMinutes": 60, "settleMinutes": 5},
            "job": json.loads((Path(__file__).parents[2] / "events" / "scheduled_start.json").read_text())[
                "job"
            ],
        },
    ],
}


def definition_file() -> Path:
    return DEFINITION_FILE


@dataclass
class Synth:
    outdir: Path
    service: dict[str, Any]
    caller: dict[str, Any]
    report: dict[str, Any]

    def resources(self, type_: str, template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        source = template or self.service
        return {name: r for name, r in source["Resources"].items() if r["Type"] == type_}


def synthesize(tmp: Path, config: dict[str, Any] | None) -> Synth:
    from infra.app import CALLER_STACK_NAME, build_app

    asset = tmp / "asset"
    asset.mkdir()
    (asset / "stand-in.txt").write_text("the real asset is built by `make lambda-asset`\n")
    context = {CONTEXT_KEY: config} if config is not None else {}
    outdir = tmp / "cdk.out"
    build_app(context, asset_dir=asset, definition_file=definition_file(), outdir=str(outdir)).synth()
    stacks = {p.name.removesuffix(".template.json"): p for p in outdir.glob("*.template.json")}
    service_name = next(name for name in stacks if name != CALLER_STACK_NAME)
    return Synth(
        outdir=outdir,
        service=json.loads(stacks[service_name].read_text()),
        caller=json.loads(stacks[CALLER_STACK_NAME].read_text()),
        report=json.loads((outdir / "validation-report.json").read_text()),
    )


@pytest.fixture(scope="session")
def full(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Every feature configured: other accounts, an organization, schedules, alarm email."""
    return synthesize(tmp_path_factory.mktemp("full"), FULL_CONFIG)


@pytest.fixture(scope="session")
def default(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """cdk.json as committed: nothing configured beyond the deploying account."""
    return synthesize(tmp_path_factory.mktemp("default"), None)
