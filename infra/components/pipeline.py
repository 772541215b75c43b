"""The evaluation pipeline: the state machine from its ASL file and the four step functions.

The definition stays in `statemachine/batch_evaluation.asl.json`; this construct fills its
`${Name}` placeholders (the names come from the file: an unknown one fails the synth), gives the
machine exactly the permissions the definition uses, logs every execution (level ALL, KMS) and
sends failed, timed-out and aborted executions to the finalize step through EventBridge.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from aws_cdk import Aws, Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.asl import DefinitionError, substitutions_for
from infra.components.functions import FunctionFactory
from infra.components.permissions import Permissions
from infra.components.storage import Storage
from infra.config import BatchEvalConfig

STEPS = {
    "Discover": "batcheval.pipeline.handlers.discover",
    "ScoreBatch": "batcheval.pipeline.handlers.score_batch",
    "Aggregate": "batcheval.pipeline.handlers.aggregate",
    "Finalize": "batcheval.pipeline.handlers.finalize",
}
# Execution outcomes the machine's own Catch cannot see; finalize records them on the job.
UNHANDLED_ENDINGS = ["FAILED", "TIMED_OUT", "ABORTED"]


class Pipeline(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: BatchEvalConfig,
        storage: Storage,
        permissions: Permissions,
        functions: FunctionFactory,
        definition_file: Path,
        external_id: str,
    ) -> None:
        super().__init__(scope, construct_id)
        definition = definition_file.read_text()
        batching = map_settings(definition)
        # Names and meanings: batcheval.pipeline.settings.PipelineSettings (ENVIRONMENT).
        env = {
            "BATCHEVAL_STATE_MACHINE_ARN": permissions.state_machine_arn,
            # Set: jobs of other accounts run on the caller role assumed in the owner's account.
            "BATCHEVAL_SERVICE_ACCOUNT_ID": Aws.ACCOUNT_ID,
            "BATCHEVAL_EVALUATORS_TABLE": storage.evaluators_table.table_name,
            "BATCHEVAL_MAX_ITEMS_PER_BATCH": str(batching["MaxItemsPerBatch"]),
            "BATCHEVAL_MAX_CONCURRENCY": str(batching["MaxConcurrency"]),
            "BATCHEVAL_CALLER_ROLE_NAME": config.callerRoleName,
            "BATCHEVAL_CALLER_EXTERNAL_ID": external_id,
            "BATCHEVAL_PARTITION": Aws.PARTITION,
            "BATCHEVAL_MAX_ACTIVE_JOBS": str(config.quotas.maxActiveJobs),
            "BATCHEVAL_MAX_STORED_JOBS": str(config.quotas.maxStoredJobs),
        }
        judge_env = {
            "BATCHEVAL_JUDGE_MODEL_ID": config.judge.modelIds[0],
            "BATCHEVAL_JUDGE_MAX_IN_FLIGHT": str(config.judge.maxInFlight),
            "BATCHEVAL_JUDGE_BUCKET_TABLE": storage.judge_table.table_name,
        }
        if config.judge.tokensPerMinute is not None:
            judge_env["BATCHEVAL_JUDGE_TOKENS_PER_MINUTE"] = str(config.judge.tokensPerMinute)
        grants = step_statements(permissions)
        # Finalize events that could not be delivered or failed after Lambda's async retries.
        self.dead_letters = sqs.Queue(
            self,
            "FinalizeDeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=storage.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.functions: dict[str, lambda_.Function] = {
            step: functions.create(
                self,
                step,
                handler=handler,
                description=f"batcheval pipeline step {step}",
                statements=grants[step],
                env={**env, **(judge_env if step == "ScoreBatch" else {})},
                memory_mb=config.pipelineMemoryMb,
                timeout=Duration.seconds(config.pipelineTimeoutSeconds),
                dead_letter_queue=self.dead_letters if step == "Finalize" else None,
            )
            for step, handler in STEPS.items()
        }
        available = {f"{step}FunctionArn": function.function_arn for step, function in self.functions.items()}
        available["PayloadBucketName"] = storage.bucket.bucket_name
        available["StateMachineName"] = permissions.state_machine_name
        substitutions = substitutions_for(definition, available)

        self.execution_logs = storage.log_group(
            self, "ExecutionLogs", name=f"/aws/vendedlogs/states/{permissions.state_machine_name}"
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=permissions.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            # Inline (not an S3 asset): the template shows the definition and its substitutions.
            definition_body=sfn.DefinitionBody.from_string(definition),
            definition_substitutions=substitutions,
            logs=sfn.LogOptions(
                destination=self.execution_logs, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
            tracing_enabled=True,
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(
                storage.key, Duration.minutes(5)
            ),
        )
        for statement in machine_statements(permissions, self.functions.values()):
            self.state_machine.add_to_role_policy(statement)

        self.status_rule = events.Rule(
            self,
            "ExecutionEnded",
            description="Failed, timed-out and aborted batch evaluation executions -> finalize",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "stateMachineArn": [self.state_machine.state_machine_arn],
                    "status": UNHANDLED_ENDINGS,
                },
            ),
            targets=[
                targets.LambdaFunction(
                    self.functions["Finalize"],
                    dead_letter_queue=self.dead_letters,
                    retry_attempts=8,
                    max_event_age=Duration.hours(6),
                )
            ],
        )


def map_settings(definition: str) -> dict[str, int]:
    """The Distributed Map's literal MaxItemsPerBatch and MaxConcurrency, which the step functions
    must know too (PipelineSettings); read from the definition so the two cannot drift."""
    found: list[dict[str, int]] = []

    def visit(states: dict[str, Any]) -> None:
        for state in states.values():
            processor = state.get("ItemProcessor") or {}
            if processor.get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED":
                found.append(
                    {
                        "MaxItemsPerBatch": int(state["ItemBatcher"]["MaxItemsPerBatch"]),
                        "MaxConcurrency": int(state["MaxConcurrency"]),
                    }
                )
            visit(processor.get("States", {}))

    visit(json.loads(definition)["States"])
    if len(found) != 1:
        raise DefinitionError(f"expected one Distributed Map with literal batching, found {len(found)}")
    return found[0]


def step_statements(p: Permissions) -> Mapping[str, list[iam.PolicyStatement | None]]:
    """Each step's IAM statements: job records, job objects, keys, and (for the steps that touch
    the caller's data) traces, results, metrics and the caller role of other accounts."""
    keys = [
        p.stack_key("kms:Decrypt", "kms:GenerateDataKey"),
        *p.caller_keys("kms:Decrypt", "kms:GenerateDataKey"),
    ]
    # Metrics leave as EMF in the result log records, so no step calls PutMetricData.
    caller_data = [*p.read_traces(), p.write_results(), *p.assume_caller_roles()]
    items = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
    return {
        # A console "Start execution" with a full request creates the job here (JobService.start).
        "Discover": [
            p.jobs_table(*items, "dynamodb:DeleteItem", "dynamodb:Query"),
            p.job_objects("s3:GetObject", "s3:PutObject", "s3:DeleteObject"),
            p.list_job_objects(),
            p.stack_key("kms:DescribeKey"),
            *p.caller_keys("kms:DescribeKey"),
            *keys,
            *caller_data,
        ],
        "ScoreBatch": [
            p.jobs_table(*items, "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:Query"),
            p.judge_table(),
            p.evaluators_table(),
            p.job_objects("s3:GetObject", "s3:PutObject"),
            *keys,
            *caller_data,
            p.invoke_judges(),
            p.invoke_evaluators(),
        ],
        "Aggregate": [
            p.jobs_table(*items, "dynamodb:Query"),
            p.job_objects("s3:GetObject", "s3:PutObject"),
            p.list_job_objects(),
            *keys,
        ],
        # Finalize also re-starts jobs whose Start crashed before their run began
        # (JobService.resume_stranded), and stops such a run again when a Stop won the race.
        "Finalize": [
            p.jobs_table(*items, "dynamodb:Query"),
            p.job_objects("s3:GetObject"),
            *keys,
            p.start_executions(),
            p.executions("states:StopExecution"),
        ],
    }


def machine_statements(p: Permissions, steps: Iterable[lambda_.Function]) -> list[iam.PolicyStatement]:
    """What the definition's states call: the step functions, its own Distributed Map child
    executions, and the S3 objects the Map reads (ItemReader) and writes (ResultWriter)."""
    return [
        iam.PolicyStatement(
            actions=["lambda:InvokeFunction"], resources=[step.function_arn for step in steps]
        ),
        p.start_executions(),
        p.executions("states:DescribeExecution", "states:StopExecution"),
        p.job_objects(
            "s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"
        ),
        p.list_job_objects(),
        p.stack_key("kms:Decrypt", "kms:GenerateDataKey"),
    ]
