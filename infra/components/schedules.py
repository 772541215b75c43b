"""Scheduled jobs: EventBridge Scheduler schedules from the configuration -> the scheduled-start
function, which starts a job through JobService (batcheval.jobs.schedule).

Each schedule passes its job template, owner account and relative window; Scheduler adds the
scheduled time, from which the job's time range, unique name and clientToken are derived (a
retried delivery is the same job). Undeliverable invocations go to an encrypted dead-letter queue.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.components.api import operation_statements
from infra.components.functions import FunctionFactory
from infra.components.permissions import Permissions
from infra.components.storage import Storage
from infra.config import BatchEvalConfig, Schedule

HANDLER = "batcheval.api.handlers.scheduled_start"
# Scheduler fills this in per invocation (a context attribute of the target input).
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"


class Schedules(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: BatchEvalConfig,
        storage: Storage,
        permissions: Permissions,
        functions: FunctionFactory,
    ) -> None:
        super().__init__(scope, construct_id)
        start = operation_statements(permissions)["StartBatchEvaluation"]
        # Runs Scheduler could not deliver, and runs that failed after Lambda's async retries.
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=storage.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.function: lambda_.Function = functions.create(
            self,
            "ScheduledStart",
            handler=HANDLER,
            description="batcheval scheduled start: one job per run, skipped while the last is active",
            # Start's own permissions (it starts through JobService) plus the schedule record.
            statements=[
                *start,
                permissions.jobs_table("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"),
            ],
            env={
                "BATCHEVAL_MAX_ACTIVE_JOBS": str(config.quotas.maxActiveJobs),
                "BATCHEVAL_MAX_STORED_JOBS": str(config.quotas.maxStoredJobs),
                "BATCHEVAL_PARTITION": Aws.PARTITION,
                "BATCHEVAL_STATE_MACHINE_ARN": permissions.state_machine_arn,
            },
            timeout=Duration.seconds(60),
            dead_letter_queue=self.dead_letters,
        )
        self.role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="EventBridge Scheduler: invoke scheduled-start, dead-letter undelivered runs",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.function.function_arn])
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.dead_letters.queue_arn])
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[storage.key.key_arn]
            )
        )
        self.group = scheduler.CfnScheduleGroup(self, "Group", name=config.resource_prefix)
        self.schedules = [self._schedule(config, storage, entry) for entry in config.schedules]

    def _schedule(self, config: BatchEvalConfig, storage: Storage, entry: Schedule) -> scheduler.CfnSchedule:
        payload = {
            "scheduleName": entry.name,
            "ownerAccountId": entry.ownerAccountId or Aws.ACCOUNT_ID,
            "scheduledTime": SCHEDULED_TIME,
            "window": entry.window.model_dump(),
            "job": entry.job,
        }
        flexible = (
            {"mode": "FLEXIBLE", "maximumWindowInMinutes": entry.flexibleWindowMinutes}
            if entry.flexibleWindowMinutes
            else {"mode": "OFF"}
        )
        schedule = scheduler.CfnSchedule(
            self,
            f"Schedule{entry.name}",
            name=f"{config.resource_prefix}-{entry.name}",
            group_name=self.group.ref,
            description=f"batcheval: job {entry.name}_<time>, last {entry.window.lookbackMinutes} min",
            schedule_expression=entry.expression,
            schedule_expression_timezone=entry.timezone,
            flexible_time_window=flexible,
            state="ENABLED" if entry.enabled else "DISABLED",
            kms_key_arn=storage.key.key_arn,
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.function.function_arn,
                role_arn=self.role.role_arn,
                input=Stack.of(self).to_json_string(payload),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=3600, maximum_retry_attempts=5
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=self.dead_letters.queue_arn
                ),
            ),
        )
        return schedule
