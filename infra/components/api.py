"""The public API: API Gateway REST on the botocore model's paths, one Lambda per operation.

Every method requires SigV4 (AWS_IAM); the resource policy admits only the configured accounts
or organization (by default only this account). Each operation's function has a role with
exactly what its code calls: Get and List read, only Start and the RetryFailed extension start
executions, only Delete deletes job records and objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.components.functions import FunctionFactory
from infra.components.permissions import Permissions
from infra.components.storage import Storage
from infra.config import BatchEvalConfig

COLLECTION = "/evaluations/batch-evaluate"
JOB = f"{COLLECTION}/{{batchEvaluationId}}"
STOP = f"{JOB}/stop"
RETRY_FAILED = f"{JOB}/retry-failed"
JOB_ID_PARAMETER = "method.request.path.batchEvaluationId"


@dataclass(frozen=True)
class Operation:
    """One operation: its route (batcheval.api.routes), handler module and whether it mutates.

    `extension`: a batcheval operation that is not in botocore's model (its wire is in the client
    helper's `service-2.sdk-extras.json`)."""

    name: str
    method: str
    path: str
    handler: str
    mutating: bool
    extension: bool = False


OPERATIONS = (
    Operation(
        "StartBatchEvaluation", "POST", COLLECTION, "batcheval.api.handlers.start_batch_evaluation", True
    ),
    Operation("GetBatchEvaluation", "GET", JOB, "batcheval.api.handlers.get_batch_evaluation", False),
    Operation(
        "ListBatchEvaluations", "GET", COLLECTION, "batcheval.api.handlers.list_batch_evaluations", False
    ),
    Operation("StopBatchEvaluation", "POST", STOP, "batcheval.api.handlers.stop_batch_evaluation", True),
    Operation("DeleteBatchEvaluation", "DELETE", JOB, "batcheval.api.handlers.delete_batch_evaluation", True),
    Operation(
        "RetryFailedBatchEvaluation",
        "POST",
        RETRY_FAILED,
        "batcheval.api.handlers.retry_failed_batch_evaluation",
        True,
        extension=True,
    ),
)

# API Gateway's own refusals in the service's error shape (header x-amzn-ErrorType + {"message"}),
# so the stock boto3 client raises the modeled exception instead of a bare ClientError.
_GATEWAY_ERRORS = {
    apigw.ResponseType.BAD_REQUEST_BODY: "ValidationException",
    apigw.ResponseType.BAD_REQUEST_PARAMETERS: "ValidationException",
    apigw.ResponseType.REQUEST_TOO_LARGE: "ValidationException",
    apigw.ResponseType.ACCESS_DENIED: "AccessDeniedException",
    apigw.ResponseType.UNAUTHORIZED: "AccessDeniedException",
    apigw.ResponseType.EXPIRED_TOKEN: "ExpiredTokenException",
    apigw.ResponseType.INVALID_SIGNATURE: "InvalidSignatureException",
    apigw.ResponseType.THROTTLED: "ThrottlingException",
    apigw.ResponseType.DEFAULT_5_XX: "InternalServerException",
}


class Api(Construct):
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
        env = {
            "BATCHEVAL_MAX_ACTIVE_JOBS": str(config.quotas.maxActiveJobs),
            "BATCHEVAL_MAX_STORED_JOBS": str(config.quotas.maxStoredJobs),
            "BATCHEVAL_PARTITION": Aws.PARTITION,
            "BATCHEVAL_STATE_MACHINE_ARN": permissions.state_machine_arn,
        }
        grants = operation_statements(permissions)
        self.functions: dict[str, lambda_.Function] = {
            operation.name: functions.create(
                self,
                operation.name,
                handler=operation.handler,
                description=f"batcheval {operation.name} ({operation.method} {operation.path})",
                statements=grants[operation.name],
                env=env,
            )
            for operation in OPERATIONS
        }
        self.access_logs = storage.log_group(self, "AccessLogs")
        throttle = config.apiThrottle
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=config.resource_prefix,
            description="batcheval: bedrock-agentcore batch evaluation operations (SigV4 for execute-api)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            policy=resource_policy(config),
            cloud_watch_role=True,
            default_method_options=apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM),
            deploy_options=apigw.StageOptions(
                stage_name=config.stage,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # request bodies carry ground truth: never log them
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
                throttling_rate_limit=throttle.readRateLimit,
                throttling_burst_limit=throttle.burstLimit,
                method_options={
                    f"{operation.path}/{operation.method}": apigw.MethodDeploymentOptions(
                        throttling_rate_limit=throttle.mutatingRateLimit,
                        throttling_burst_limit=throttle.burstLimit,
                    )
                    for operation in OPERATIONS
                    if operation.mutating
                },
            ),
        )
        for response_type, code in _GATEWAY_ERRORS.items():
            self.rest_api.add_gateway_response(
                f"Gateway{code}{response_type.response_type}",
                type=response_type,
                response_headers={"x-amzn-ErrorType": f"'{code}'"},
                templates={"application/json": '{"message": $context.error.messageString}'},
            )
        params_only = self.rest_api.add_request_validator("Parameters", validate_request_parameters=True)
        body_and_params = self.rest_api.add_request_validator(
            "BodyAndParameters", validate_request_body=True, validate_request_parameters=True
        )
        start_model = self.rest_api.add_model(
            "StartBatchEvaluationRequest",
            content_type="application/json",
            schema=apigw.JsonSchema(
                schema=apigw.JsonSchemaVersion.DRAFT4,
                type=apigw.JsonSchemaType.OBJECT,
                # The handler checks everything else and names every bad field at once.
                required=["batchEvaluationName", "dataSourceConfig"],
            ),
        )
        resources: dict[str, apigw.IResource] = {}
        for operation in OPERATIONS:
            resource = resources.get(operation.path) or self.rest_api.root.resource_for_path(operation.path)
            resources[operation.path] = resource
            has_id = "{batchEvaluationId}" in operation.path
            resource.add_method(
                operation.method,
                apigw.LambdaIntegration(self.functions[operation.name], proxy=True),
                operation_name=operation.name,
                authorization_type=apigw.AuthorizationType.IAM,
                request_validator=body_and_params
                if operation.method == "POST" and not has_id
                else params_only,
                request_parameters={JOB_ID_PARAMETER: True} if has_id else None,
                request_models={"application/json": start_model}
                if operation.name == "StartBatchEvaluation"
                else None,
            )


def operation_statements(permissions: Permissions) -> dict[str, list[iam.PolicyStatement | None]]:
    """Each operation's IAM statements: what its code path through JobService calls (docs/api.md)."""
    p = permissions
    return {
        "StartBatchEvaluation": [
            p.jobs_table("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
            p.job_objects("s3:PutObject", "s3:DeleteObject"),
            p.list_job_objects(),
            p.stack_key("kms:DescribeKey", "kms:GenerateDataKey"),
            *p.caller_keys("kms:DescribeKey", "kms:GenerateDataKey"),
            p.start_executions(),
            # A Stop that won the race against Start: Start stops the run it just began.
            p.executions("states:StopExecution"),
        ],
        "GetBatchEvaluation": [
            p.jobs_table("dynamodb:GetItem"),
            p.job_objects("s3:GetObject"),
            p.stack_key("kms:Decrypt"),
            *p.caller_keys("kms:Decrypt"),
        ],
        "ListBatchEvaluations": [
            p.jobs_table("dynamodb:Query"),
            p.stack_key("kms:Encrypt", "kms:Decrypt"),  # page tokens
        ],
        "StopBatchEvaluation": [
            p.jobs_table("dynamodb:GetItem", "dynamodb:UpdateItem"),
            p.executions("states:StopExecution"),
        ],
        "DeleteBatchEvaluation": [
            # Query + BatchWriteItem: the run's per-session ledger items are purged with the job.
            p.jobs_table(
                "dynamodb:GetItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:Query",
                "dynamodb:BatchWriteItem",
            ),
            p.list_job_objects(),
            p.job_objects("s3:DeleteObject"),
            p.executions("states:StopExecution"),
        ],
        # JobService.retry_failed: reads the job, its run's markers and batch commits (Query), releases
        # the failed sessions' markers (BatchWriteItem deletes), rewrites the failed batches' results
        # and partials and writes a retry manifest (overwrites under the job's prefix: no
        # s3:DeleteObject), moves the job back to PENDING and starts its run.
        "RetryFailedBatchEvaluation": [
            p.jobs_table(
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:Query",
                "dynamodb:BatchWriteItem",
            ),
            p.job_objects("s3:GetObject", "s3:PutObject"),
            # Without ListBucket a missing manifest reads as AccessDenied instead of NoSuchKey.
            p.list_job_objects(),
            p.stack_key("kms:Decrypt", "kms:GenerateDataKey"),
            *p.caller_keys("kms:Decrypt", "kms:GenerateDataKey"),
            p.start_executions(),
            # A Stop that won the race against the new run: it stops the run it just began.
            p.executions("states:StopExecution"),
        ],
    }


def resource_policy(config: BatchEvalConfig) -> iam.PolicyDocument:
    """Allow the configured callers, deny everyone else (an explicit deny beats any IAM allow)."""
    accounts = [Aws.ACCOUNT_ID, *config.allowedAccountIds]
    invoke = ["execute-api:Invoke"]
    everything = ["execute-api:/*"]
    statements = [
        iam.PolicyStatement(
            sid="AllowConfiguredAccounts",
            principals=[iam.AccountPrincipal(account) for account in accounts],
            actions=invoke,
            resources=everything,
        )
    ]
    deny_unless: dict[str, object] = {"aws:PrincipalAccount": accounts}
    if config.allowedOrganizationId is not None:
        statements.append(
            iam.PolicyStatement(
                sid="AllowConfiguredOrganization",
                principals=[iam.AnyPrincipal()],
                actions=invoke,
                resources=everything,
                conditions={"StringEquals": {"aws:PrincipalOrgID": config.allowedOrganizationId}},
            )
        )
        deny_unless["aws:PrincipalOrgID"] = config.allowedOrganizationId
    statements.append(
        iam.PolicyStatement(
            sid="DenyEveryoneElse",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=invoke,
            resources=everything,
            # Both conditions must hold to deny: neither an allowed account nor in the organization.
            conditions={"StringNotEquals": deny_unless},
        )
    )
    return iam.PolicyDocument(statements=statements)
