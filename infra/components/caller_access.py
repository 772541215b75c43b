"""The role a calling account deploys so the service's pipeline can work on its data.

Trusted only by the service's pipeline roles (by ARN) and only with the agreed ExternalId; it
grants reading the caller's trace log groups, writing the output log group, publishing metrics
in the evaluations namespace and using the caller's KMS key for batch-evaluation data — nothing
else. Built from CloudFormation parameters, so the synthesized template is a plain CloudFormation
template any account can deploy without CDK (`infra/templates/caller-access.template.json`).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnCondition, CfnParameter, Fn
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.components.permissions import JOB_ARN_CONTEXT_KEY


def _log_groups(pattern: CfnParameter) -> str:
    return f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:{pattern.value_as_string}"


class CallerAccessRole(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        role_name = CfnParameter(
            self,
            "RoleName",
            default="batcheval-caller-access",
            description="Name of the role; the service's BATCHEVAL_CALLER_ROLE_NAME (config callerRoleName).",
        )
        service_account = CfnParameter(
            self,
            "ServiceAccountId",
            allowed_pattern="^[0-9]{12}$",
            description="The AWS account that runs the batcheval service.",
        )
        pipeline_roles = CfnParameter(
            self,
            "PipelineRoleArns",
            type="CommaDelimitedList",
            description="The service's pipeline role ARNs (the service stack's output PipelineRoleArns).",
        )
        external_id = CfnParameter(
            self,
            "ExternalId",
            min_length=2,
            description="The ExternalId the service passes (default batcheval-<service account id>).",
        )
        # One pattern per parameter (CloudFormation cannot map a list parameter to ARNs); a
        # trailing `*` matches by prefix, and `:*` ends an ARN of a single log group.
        spans_groups = CfnParameter(
            self,
            "SpansLogGroupPattern",
            default="aws/spans:*",
            description="Log group(s) with your agents' spans (Transaction Search writes aws/spans).",
        )
        agent_groups = CfnParameter(
            self,
            "AgentLogGroupPattern",
            default="/aws/bedrock-agentcore/runtimes/*",
            description="Log group(s) with your agents' runtime logs (prompts and responses).",
        )
        output_groups = CfnParameter(
            self,
            "OutputLogGroupPattern",
            default="/aws/bedrock-agentcore/evaluations/*",
            description="Log group(s) the service may write per-session evaluation results to.",
        )
        self.spans_groups, self.agent_groups, self.output_groups = spans_groups, agent_groups, output_groups
        namespace = CfnParameter(
            self,
            "MetricsNamespace",
            default="Bedrock-AgentCore/Evaluations",
            description="CloudWatch namespace of the evaluation metrics.",
        )
        key_arn = CfnParameter(
            self,
            "KmsKeyArn",
            default="",
            description="Optional: the KMS key you name as kmsKeyArn in your jobs (empty: none).",
        )
        for parameter in (
            role_name,
            service_account,
            pipeline_roles,
            external_id,
            spans_groups,
            agent_groups,
            output_groups,
            namespace,
            key_arn,
        ):
            # Plain names: teams deploying the template pass parameters by these names.
            parameter.override_logical_id(parameter.node.id)
        has_key = CfnCondition(
            self, "HasKmsKey", expression=Fn.condition_not(Fn.condition_equals(key_arn.value_as_string, ""))
        )
        job_arns = f"arn:{Aws.PARTITION}:bedrock-agentcore:{Aws.REGION}:{Aws.ACCOUNT_ID}:batch-evaluate/*"
        statements: list[Any] = [
            {
                "Sid": "ReadTraces",
                "Effect": "Allow",
                "Action": ["logs:StartQuery", "logs:FilterLogEvents", "logs:GetLogEvents"],
                "Resource": [_log_groups(spans_groups), _log_groups(agent_groups)],
            },
            {
                # Query results are addressed by query id and DescribeLogGroups lists the account's
                # groups: neither takes a narrower resource than this account's log groups.
                "Sid": "QueryResults",
                "Effect": "Allow",
                "Action": ["logs:GetQueryResults", "logs:StopQuery", "logs:DescribeLogGroups"],
                "Resource": f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*",
            },
            {
                "Sid": "WriteResults",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                "Resource": _log_groups(output_groups),
            },
            {
                # PutMetricData has no resource-level permissions; the namespace condition scopes it.
                "Sid": "EvaluationMetrics",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": namespace.value_as_string}},
            },
            Fn.condition_if(
                has_key.logical_id,
                {
                    "Sid": "CallerKey",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"],
                    "Resource": key_arn.value_as_string,
                    "Condition": {"StringLike": {JOB_ARN_CONTEXT_KEY: job_arns}},
                },
                Aws.NO_VALUE,
            ),
            Fn.condition_if(
                has_key.logical_id,
                {
                    "Sid": "CallerKeyDescribe",
                    "Effect": "Allow",
                    "Action": "kms:DescribeKey",
                    "Resource": key_arn.value_as_string,
                },
                Aws.NO_VALUE,
            ),
        ]
        has_key.override_logical_id("HasKmsKey")
        self.role = iam.CfnRole(
            self,
            "Role",
            role_name=role_name.value_as_string,
            description="batcheval: lets the batch evaluation service read traces and write results here",
            max_session_duration=3600,
            assume_role_policy_document={
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "ServicePipelineOnly",
                        "Effect": "Allow",
                        "Principal": {
                            "AWS": f"arn:{Aws.PARTITION}:iam::{service_account.value_as_string}:root"
                        },
                        "Action": "sts:AssumeRole",
                        "Condition": {
                            "StringEquals": {"sts:ExternalId": external_id.value_as_string},
                            # Only the pipeline roles, not any principal of the service's account.
                            "ArnEquals": {"aws:PrincipalArn": pipeline_roles.value_as_list},
                        },
                    }
                ],
            },
            policies=[
                iam.CfnRole.PolicyProperty(
                    policy_name="batcheval-caller-access",
                    policy_document={"Version": "2012-10-17", "Statement": statements},
                )
            ],
        )
        self.role.override_logical_id("CallerAccessRole")
