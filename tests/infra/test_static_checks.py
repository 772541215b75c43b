"""cdk-nag (AwsSolutions), cfn-lint and checkov on the synthesized templates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import aws_iam as iam
from infra.app import build_app
from infra.config import parse_config
from infra.nag import service_acknowledgments

from tests.infra.conftest import FULL_CONFIG, Synth, definition_file

REPO = Path(__file__).parents[2]
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"


def test_nag_fails_the_synth_on_an_unacknowledged_wildcard(tmp_path: Path):
    # Given the app plus one role granting s3:GetObject on "*" (nobody wrote down why)
    asset = tmp_path / "asset"
    asset.mkdir()
    (asset / "x").write_text("x")
    app = build_app({}, asset_dir=asset, definition_file=definition_file(), outdir=str(tmp_path / "out"))
    stack = app.node.find_child("BatchEval-prod")
    role = iam.Role(stack, "Careless", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::*"]))

    # When synthesizing / Then the AwsSolutions checks refuse it, naming the construct
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "out" / "validation-report.json").read_text())
    violations = [
        v for p in report["pluginReports"] if p["pluginName"] == "AwsSolutions" for v in p["violations"]
    ]
    paths = {c["constructPath"] for v in violations for c in v["violatingConstructs"]}
    assert paths == {"BatchEval-prod/Careless/DefaultPolicy/Resource"}


def test_synth_passes_nag_with_every_acknowledgment_reasoned(full: Synth, default: Synth):
    # Given both configurations synthesized with the AwsSolutions checks (the fixtures raise otherwise)
    # Then no report holds an open violation, and each acknowledgment says why in its own words
    for synth in (full, default):
        assert all(not p["violations"] for p in synth.report["pluginReports"])
    reasons = service_acknowledgments(parse_config(FULL_CONFIG), jobs_table="T", payload_bucket="B")
    for finding, reason in reasons.items():
        assert len(reason) > 60, finding
    assert len(set(reasons.values())) >= len(reasons) - 8  # per-variant reasons, not one blanket text


def test_cfn_lint_is_clean(full: Synth):
    templates = sorted(str(p) for p in full.outdir.glob("*.template.json"))
    committed = str(REPO / "infra" / "templates" / "caller-access.template.json")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--ignore-checks",
            "W3005",
            "--",
            *templates,
            committed,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_is_clean_with_the_justified_skips(full: Synth):
    # checkov lives in its own virtualenv (it pins an old boto3): `make checkov-venv` creates it.
    assert CHECKOV.exists(), "checkov is missing: run `make checkov-venv` (make test does)"
    result = subprocess.run(
        [str(CHECKOV), "-d", str(full.outdir), "--config-file", str(REPO / "infra" / "checkov.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Failed checks: 0" in result.stdout
