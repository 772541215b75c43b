"""The stack a calling account deploys (or its plain CloudFormation template, same content)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.components.caller_access import CallerAccessRole
from infra.nag import acknowledge_caller_findings


class CallerAccessStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            description="batcheval caller access: the role the batch evaluation service assumes here",
            analytics_reporting=False,
            **kwargs,
        )
        self.access = CallerAccessRole(self, "CallerAccess")
        CfnOutput(self, "RoleArn", value=self.access.role.attr_arn)
        acknowledge_caller_findings(
            self,
            {
                self.resolve(parameter.logical_id): purpose
                for parameter, purpose in (
                    (self.access.spans_groups, "Reading the caller's span log groups"),
                    (self.access.agent_groups, "Reading the caller's agent runtime log groups"),
                    (self.access.output_groups, "Writing results to the caller's output log groups"),
                )
            },
        )
