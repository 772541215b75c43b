"""What each capability of a function grants, as IAM statements: one place to read and review.

Functions are given exactly the capabilities they use (see `api.py` and `pipeline.py`); nothing
here uses `grant_*` helpers, whose wildcard actions (`kms:GenerateDataKey*`, `s3:GetObject*`)
would grant more than the code calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_iam as iam

from infra.components.storage import Storage
from infra.config import BatchEvalConfig

JOB_ARN_CONTEXT_KEY = "kms:EncryptionContext:batcheval:batchEvaluationArn"  # jobs/payloads.py


def _statement(
    actions: list[str], resources: list[str], **conditions: dict[str, object]
) -> iam.PolicyStatement:
    return iam.PolicyStatement(actions=sorted(actions), resources=resources, conditions=conditions or None)


@dataclass(frozen=True)
class Permissions:
    """Statement builders bound to this stack's resources and configuration."""

    stack: Stack
    storage: Storage
    config: BatchEvalConfig
    state_machine_name: str

    # ---- job table ---------------------------------------------------------------------------
    def jobs_table(self, *actions: str) -> iam.PolicyStatement:
        """Items of the job table (and its list index for Query)."""
        table = self.storage.jobs_table.table_arn
        resources = [table, f"{table}/index/*"] if "dynamodb:Query" in actions else [table]
        return _statement(list(actions), resources)

    def evaluators_table(self) -> iam.PolicyStatement:
        """Reading custom evaluator definitions (each owner's are keyed by its account)."""
        return _statement(["dynamodb:GetItem", "dynamodb:Query"], [self.storage.evaluators_table.table_arn])

    def judge_table(self) -> iam.PolicyStatement:
        return _statement(
            ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            [self.storage.judge_table.table_arn],
        )

    # ---- payload bucket ----------------------------------------------------------------------
    def job_objects(self, *actions: str) -> iam.PolicyStatement:
        """Objects under `jobs/` (every job's data lives at `jobs/<owner>/<id>/`)."""
        return _statement(list(actions), [self.storage.bucket.arn_for_objects("jobs/*")])

    def list_job_objects(self) -> iam.PolicyStatement:
        return _statement(
            ["s3:ListBucket"], [self.storage.bucket.bucket_arn], StringLike={"s3:prefix": ["jobs/*"]}
        )

    # ---- keys --------------------------------------------------------------------------------
    def stack_key(self, *actions: str) -> iam.PolicyStatement:
        return _statement(list(actions), [self.storage.key.key_arn])

    def caller_keys(self, *actions: str) -> list[iam.PolicyStatement]:
        """Callers' own keys (Start's `kmsKeyArn`), usable only for batch-evaluation data.

        A key belongs to an allowed caller: a key pattern per allowed account, plus any account of
        the configured organization (an `aws:ResourceOrgID` condition).
        """
        statements = []
        data_actions = [action for action in actions if action != "kms:DescribeKey"]
        if "kms:DescribeKey" in actions:
            statements += self._key_statements(["kms:DescribeKey"], {})
        if data_actions:
            job_arns = self.stack.format_arn(
                service="bedrock-agentcore",
                account="*",
                resource="batch-evaluate",
                resource_name="*",
                arn_format=ArnFormat.SLASH_RESOURCE_NAME,
            )
            statements += self._key_statements(data_actions, {"StringLike": {JOB_ARN_CONTEXT_KEY: job_arns}})
        return statements

    def _key_statements(
        self, actions: list[str], conditions: dict[str, dict[str, object]]
    ) -> list[iam.PolicyStatement]:
        def keys(account: str) -> str:
            return self.stack.format_arn(service="kms", account=account, resource="key", resource_name="*")

        accounts = [Aws.ACCOUNT_ID, *self.config.allowedAccountIds]
        statements = [_statement(actions, [keys(account) for account in accounts], **conditions)]
        org = self.config.allowedOrganizationId
        if org is not None:
            in_org: dict[str, dict[str, object]] = {**conditions, "StringEquals": {"aws:ResourceOrgID": org}}
            statements.append(_statement(actions, [keys("*")], **in_org))
        return statements

    # ---- state machine -----------------------------------------------------------------------
    @property
    def state_machine_arn(self) -> str:
        return self.stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=self.state_machine_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def executions(self, *actions: str) -> iam.PolicyStatement:
        """Executions of this service's state machine (`execution:<machine>:<name>`)."""
        arn = self.stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{self.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        return _statement(list(actions), [arn])

    def start_executions(self) -> iam.PolicyStatement:
        return _statement(["states:StartExecution"], [self.state_machine_arn])

    # ---- traces, results, metrics, judge (the pipeline) -------------------------------------
    def _log_groups(self, names: list[str]) -> list[str]:
        return [
            self.stack.format_arn(
                service="logs",
                resource="log-group",
                resource_name=f"{name}:*" if not name.endswith("*") else name,
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for name in names
        ]

    def read_traces(self) -> list[iam.PolicyStatement]:
        """Logs Insights and FilterLogEvents on the configured trace log groups of this account."""
        return [
            _statement(
                ["logs:StartQuery", "logs:FilterLogEvents", "logs:GetLogEvents"],
                self._log_groups(self.config.traceLogGroupNames),
            ),
            # GetQueryResults/StopQuery take a query id, DescribeLogGroups lists: neither supports
            # a narrower resource than the account's log groups.
            _statement(
                ["logs:GetQueryResults", "logs:StopQuery", "logs:DescribeLogGroups"],
                [
                    self.stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            ),
        ]

    def write_results(self) -> iam.PolicyStatement:
        return _statement(
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            self._log_groups(self.config.outputLogGroupNames),
        )

    def invoke_judges(self) -> iam.PolicyStatement:
        """Converse/InvokeModel on the configured judge models (a profile also needs its models)."""
        resources = set()
        for model_id in self.config.judge.modelIds:
            geography, _, model = model_id.partition(".")
            if model_id.startswith("arn:"):
                resources.add(model_id)
            elif geography in _PROFILE_PREFIXES:
                resources.add(
                    self.stack.format_arn(
                        service="bedrock", resource="inference-profile", resource_name=model_id
                    )
                )
                # A cross-Region profile routes to the model in any of its Regions.
                resources.add(f"arn:{Aws.PARTITION}:bedrock:*::foundation-model/{model}")
            else:
                resources.add(f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}::foundation-model/{model_id}")
        return _statement(["bedrock:InvokeModel"], sorted(resources))

    def invoke_evaluators(self) -> iam.PolicyStatement | None:
        arns = self.config.evaluatorFunctionArns
        return _statement(["lambda:InvokeFunction"], list(arns)) if arns else None

    def assume_caller_roles(self) -> list[iam.PolicyStatement]:
        """The role each other caller account deploys (caller stack), never any other role.

        Empty when only this account may call: same-account jobs use the service's own clients.
        """
        role = self.config.callerRoleName
        statements = []
        if self.config.allowedAccountIds:
            roles = [
                f"arn:{Aws.PARTITION}:iam::{account}:role/{role}" for account in self.config.allowedAccountIds
            ]
            statements.append(_statement(["sts:AssumeRole"], roles))
        if self.config.allowedOrganizationId is not None:
            statements.append(
                _statement(
                    ["sts:AssumeRole"],
                    [f"arn:{Aws.PARTITION}:iam::*:role/{role}"],
                    StringEquals={"aws:ResourceOrgID": self.config.allowedOrganizationId},
                )
            )
        return statements


# Cross-Region inference profile ids start with a geography: `us.anthropic...`, `global.anthropic...`.
_PROFILE_PREFIXES = {"us", "eu", "apac", "global", "us-gov", "ca", "jp", "au"}
