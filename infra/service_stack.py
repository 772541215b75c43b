"""The service stack: storage, API, pipeline, schedules, observability, wired together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Aws, CfnOutput, Fn, Stack
from constructs import Construct

from infra.components.api import Api
from infra.components.functions import FunctionFactory
from infra.components.observability import Observability
from infra.components.permissions import Permissions
from infra.components.pipeline import Pipeline
from infra.components.schedules import Schedules
from infra.components.storage import Storage
from infra.config import BatchEvalConfig
from infra.nag import acknowledge_service_findings


class ServiceStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: BatchEvalConfig,
        asset_dir: Path,
        definition_file: Path,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, description="batcheval: batch evaluation service", **kwargs)
        self.config = config
        self.storage = Storage(self, "Storage", config=config)
        permissions = Permissions(
            stack=self,
            storage=self.storage,
            config=config,
            state_machine_name=f"{config.resource_prefix}-batch-evaluation",
        )
        external_id = config.callerExternalId or Fn.join("", ["batcheval-", Aws.ACCOUNT_ID])
        functions = FunctionFactory(
            storage=self.storage,
            asset_dir=asset_dir,
            common_env={
                "BATCHEVAL_JOBS_TABLE": self.storage.jobs_table.table_name,
                "BATCHEVAL_PAYLOAD_BUCKET": self.storage.bucket.bucket_name,
                "BATCHEVAL_KMS_KEY_ARN": self.storage.key.key_arn,
            },
        )
        self.api = Api(
            self, "Api", config=config, storage=self.storage, permissions=permissions, functions=functions
        )
        self.pipeline = Pipeline(
            self,
            "Pipeline",
            config=config,
            storage=self.storage,
            permissions=permissions,
            functions=functions,
            definition_file=definition_file,
            external_id=external_id,
        )
        self.schedules = (
            Schedules(
                self,
                "Schedules",
                config=config,
                storage=self.storage,
                permissions=permissions,
                functions=functions,
            )
            if config.schedules
            else None
        )
        all_functions = {**self.api.functions, **self.pipeline.functions}
        dead_letters = {"FinalizeDeadLetters": self.pipeline.dead_letters}
        if self.schedules is not None:
            all_functions["ScheduledStart"] = self.schedules.function
            dead_letters["ScheduleDeadLetters"] = self.schedules.dead_letters
        self.observability = Observability(
            self,
            "Observability",
            config=config,
            storage=self.storage,
            state_machine=self.pipeline.state_machine,
            functions=all_functions,
            rest_api=self.api.rest_api,
            dead_letter_queues=dead_letters,
            execution_logs=self.pipeline.execution_logs,
        )
        CfnOutput(self, "ApiEndpoint", value=self.api.rest_api.url, description="endpoint_url for the client")
        CfnOutput(self, "StateMachineArn", value=self.pipeline.state_machine.state_machine_arn)
        CfnOutput(
            self,
            "PipelineRoleArns",
            value=Fn.join(
                ",", [f.role.role_arn for f in self.pipeline.functions.values() if f.role is not None]
            ),
            description="Caller stack parameter PipelineRoleArns",
        )
        CfnOutput(
            self, "CallerExternalId", value=external_id, description="Caller stack parameter ExternalId"
        )
        CfnOutput(self, "PayloadBucketName", value=self.storage.bucket.bucket_name)
        acknowledge_service_findings(self, config)
