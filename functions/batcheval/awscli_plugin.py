"""AWS CLI plugin: `aws bedrock-agentcore ...` against a batcheval API.

Enable once with `aws configure set plugins.batcheval batcheval.awscli_plugin` (AWS CLI v2 also needs
`aws configure set plugins.cli_legacy_plugin_path <site-packages of batcheval>`). Requests to any
endpoint other than AWS's own AgentCore hosts are then signed for `execute-api`, and batcheval's
extensions (e.g. `aws bedrock-agentcore retry-failed-batch-evaluation`) appear as commands.
"""

from __future__ import annotations

from typing import Any

from batcheval.sdk import add_model_extensions, sign_custom_endpoints_for_api_gateway


def awscli_initialize(cli: Any) -> None:
    """The AWS CLI's plugin entry point: `cli` is its event emitter."""
    cli.register("session-initialized", _extend_session)
    cli.register("before-sign.bedrock-agentcore", sign_custom_endpoints_for_api_gateway)


def _extend_session(session: Any, **_: Any) -> None:
    add_model_extensions(session)
