"""Python Lambda functions of the one code asset, each with its own role and log group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.components.storage import Storage

DEFAULT_TIMEOUT = Duration.seconds(30)
RUNTIME = lambda_.Runtime.PYTHON_3_13  # the asset's wheels are built for cp313 (Makefile: lambda-asset)


class FunctionFactory:
    """Builds functions that share the asset, the stack key and the logging/tracing defaults.

    Each function gets a role of its own that starts with nothing but writing its own log group
    and X-Ray segments; the caller adds exactly the statements the function's code uses.
    """

    def __init__(self, *, storage: Storage, asset_dir: Path, common_env: Mapping[str, str]) -> None:
        self._storage = storage
        self._code = lambda_.Code.from_asset(str(asset_dir))
        self._env = dict(common_env)

    def create(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        statements: Sequence[iam.PolicyStatement | None],
        env: Mapping[str, str] | None = None,
        memory_mb: int = 512,
        timeout: Duration = DEFAULT_TIMEOUT,
        dead_letter_queue: sqs.IQueue | None = None,
    ) -> lambda_.Function:
        """`dead_letter_queue`: for functions invoked asynchronously (EventBridge, Scheduler), where
        an event that still fails after Lambda's own retries would otherwise be dropped."""
        log_group = self._storage.log_group(scope, f"{construct_id}Logs")
        role = iam.Role(
            scope,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"batcheval {construct_id}: only what its code calls",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[f"{log_group.log_group_arn}"],
            )
        )
        if dead_letter_queue is not None:
            # The queue is encrypted with the stack key (SendMessage itself is granted by CDK).
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[self._storage.key.key_arn]
                )
            )
        for statement in statements:
            if statement is not None:
                role.add_to_policy(statement)
        function = lambda_.Function(
            scope,
            construct_id,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            code=self._code,
            handler=f"{handler}.lambda_handler",
            description=description,
            role=role,
            memory_size=memory_mb,
            timeout=timeout,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            environment={**self._env, **(env or {})},
            environment_encryption=self._storage.key,
            dead_letter_queue=dead_letter_queue,
        )
        return function
