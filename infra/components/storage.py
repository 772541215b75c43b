"""Where the service keeps state: one customer-managed key, the job table, the judge capacity
table and the payload bucket. Everything at rest is encrypted with the one key."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import BatchEvalConfig

# The job table's schema mirrors batcheval.jobs.resources (what the code and tests create).
LIST_INDEX = "by_created"
# Items carrying this attribute (epoch seconds) expire on their own; job records never carry it.
TTL_ATTRIBUTE = "expiresAt"


class Storage(Construct):
    """The stack key (rotation on), the tables (PITR on) and the payload bucket (SSE-KMS, TLS only)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: BatchEvalConfig) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        stack = Stack.of(self)
        self.key = kms.Key(
            self,
            "Key",
            alias=f"alias/{config.resource_prefix}",
            description="batcheval: job records, payloads, logs, state machine data, queues, topics",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # CloudWatch Logs encrypts this account's log groups with the key, only for log groups.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsUse",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],  # in a key policy "*" means this key
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
        # Services that deliver into the key-encrypted SNS topic and SQS dead-letter queues.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmAndEventDelivery",
                principals=[
                    iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                    iam.ServicePrincipal("events.amazonaws.com"),
                ],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],  # in a key policy "*" means this key
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        self.jobs_table = self._table(
            "Jobs", sort_key="sk", time_to_live_attribute=TTL_ATTRIBUTE, removal_policy=RemovalPolicy.RETAIN
        )
        self.jobs_table.add_local_secondary_index(
            index_name=LIST_INDEX,
            sort_key=dynamodb.Attribute(name="listKey", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        # Shared judge capacity (TPM bucket and in-flight leases) of batcheval.judges.*_dynamodb:
        # transient rate-limiter state only.
        self.judge_table = self._table("JudgeCapacity", removal_policy=RemovalPolicy.DESTROY)
        # Custom evaluator definitions per account (batcheval.evaluators.store.DynamoEvaluatorStore).
        self.evaluators_table = self._table(
            "Evaluators", partition_key="owner", sort_key="evaluatorId", removal_policy=RemovalPolicy.RETAIN
        )
        # Server access logs of the payload bucket (S3 delivers them only to an SSE-S3 bucket).
        self.access_log_bucket = s3.Bucket(
            self,
            "PayloadAccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(config.logRetentionDays),
                    noncurrent_version_expiration=Duration.days(1),
                )
            ],
        )
        self.bucket = s3.Bucket(
            self,
            "Payloads",
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="payloads/",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                # A Start that died mid-upload leaves parts nobody completes.
                s3.LifecycleRule(
                    id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)
                ),
                # Delete removes a job's objects; versioning keeps them recoverable for a while only.
                s3.LifecycleRule(
                    id="expire-deleted-job-data",
                    noncurrent_version_expiration=Duration.days(config.deletedDataRetentionDays),
                    expired_object_delete_marker=True,
                ),
            ],
        )

    def _table(
        self,
        construct_id: str,
        *,
        removal_policy: RemovalPolicy,
        partition_key: str = "pk",
        sort_key: str | None = None,
        time_to_live_attribute: str | None = None,
    ) -> dynamodb.Table:
        # dynamodb.Table, not TableV2: TableV2 with a customer-managed key needs a Region-bound stack.
        return dynamodb.Table(
            self,
            construct_id,
            partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=sort_key, type=dynamodb.AttributeType.STRING)
            if sort_key
            else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=time_to_live_attribute,
            deletion_protection=removal_policy == RemovalPolicy.RETAIN,
            removal_policy=removal_policy,
        )

    def log_group(self, scope: Construct, construct_id: str, *, name: str | None = None) -> logs.LogGroup:
        """A log group encrypted with the stack key, with the configured retention."""
        return logs.LogGroup(
            scope,
            construct_id,
            log_group_name=name,
            encryption_key=self.key,
            retention=_RETENTION[self._config.logRetentionDays],
            removal_policy=RemovalPolicy.DESTROY,
        )


_R = logs.RetentionDays
_RETENTION = {
    1: _R.ONE_DAY, 3: _R.THREE_DAYS, 5: _R.FIVE_DAYS, 7: _R.ONE_WEEK, 14: _R.TWO_WEEKS, 30: _R.ONE_MONTH,
    60: _R.TWO_MONTHS, 90: _R.THREE_MONTHS, 120: _R.FOUR_MONTHS, 150: _R.FIVE_MONTHS, 180: _R.SIX_MONTHS,
    365: _R.ONE_YEAR, 400: _R.THIRTEEN_MONTHS, 545: _R.EIGHTEEN_MONTHS, 731: _R.TWO_YEARS,
    1096: _R.THREE_YEARS, 1827: _R.FIVE_YEARS, 3653: _R.TEN_YEARS,
}  # fmt: skip
