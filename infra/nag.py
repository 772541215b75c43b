"""Every cdk-nag AwsSolutions finding this app accepts, each with the reason it is accepted.

Acknowledgments are per finding id (and per `[...]` variant: cdk-nag has no prefix match), so a
new wildcard anywhere fails the synth until someone writes down here why it is needed.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from constructs import IConstruct

from infra.config import BatchEvalConfig

_LOGS = "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group"
_QUERY_RESULTS = (
    "Logs Insights GetQueryResults/StopQuery address a query id and DescribeLogGroups lists groups: "
    "neither takes a narrower resource than this account's log groups."
)


# Actions this app grants on Resource "*", and why nothing narrower exists. tests/infra fails on
# any other action granted on "*".
_XRAY = "X-Ray has no resource-level permissions (Lambda and Step Functions tracing)."
_DELIVERY = "Vended log delivery (Step Functions execution logs) has no resource-level permissions."
RESOURCE_STAR_ACTIONS = {
    "xray:PutTraceSegments": _XRAY,
    "xray:PutTelemetryRecords": _XRAY,
    "xray:GetSamplingRules": _XRAY,
    "xray:GetSamplingTargets": _XRAY,
    "cloudwatch:PutMetricData": "No resource-level permissions; every grant has a namespace condition.",
    "logs:CreateLogDelivery": _DELIVERY,
    "logs:GetLogDelivery": _DELIVERY,
    "logs:UpdateLogDelivery": _DELIVERY,
    "logs:DeleteLogDelivery": _DELIVERY,
    "logs:ListLogDeliveries": _DELIVERY,
    "logs:PutResourcePolicy": "Step Functions log delivery sets the account's Logs resource policy.",
    "logs:DescribeResourcePolicies": "Step Functions log delivery reads the account's Logs resource policy.",
    "logs:DescribeLogGroups": "Step Functions log delivery lists log groups (no narrower resource).",
}


_MANAGED_APIGW_LOGS = (
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AmazonAPIGatewayPushToCloudWatchLogs]"
)
_STATES_EXECUTIONS = "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"


def _iam5(resource: str) -> str:
    return f"AwsSolutions-IAM5[Resource::{resource}]"


def _logical_id(construct: IConstruct) -> str:
    element = construct.node.default_child
    assert isinstance(element, CfnElement)
    return str(Stack.of(construct).resolve(element.logical_id))


def _ack(scope: IConstruct, findings: dict[str, str]) -> None:
    for finding, reason in findings.items():
        Validations.of(scope).acknowledge(Acknowledgment(id=finding, reason=reason))


def _log_group_pattern(name: str) -> str:
    return f"{_LOGS}:{name if name.endswith('*') else name + ':*'}"


def service_acknowledgments(
    config: BatchEvalConfig, *, jobs_table: str, payload_bucket: str
) -> dict[str, str]:
    """The service stack's accepted findings; `jobs_table`/`payload_bucket` are logical ids."""
    findings = {
        "AwsSolutions-COG4": (
            "Callers are AWS accounts (the bedrock-agentcore API contract): every method uses AWS_IAM "
            "(SigV4) with a resource policy; Cognito user pools do not apply."
        ),
        "AwsSolutions-APIG3": (
            "IAM authorization, the account/organization resource policy and stage throttling stop "
            "unauthenticated traffic before any function runs; a WAF web ACL is an operator's choice."
        ),
        _MANAGED_APIGW_LOGS: (
            "The account-level role API Gateway needs to write access and execution logs; AWS maintains "
            "this policy for exactly that purpose."
        ),
        "AwsSolutions-L1": (
            "The code asset is built for CPython 3.13 (cp313 wheels, Makefile lambda-asset); a newer "
            "runtime is a deliberate rebuild, not a default."
        ),
        "AwsSolutions-SQS3": (
            "These queues ARE the dead-letter queues (EventBridge rule, Scheduler and async Lambda "
            "targets); cdk-nag only recognizes SQS redrive policies as DLQ use."
        ),
        _iam5(f"<{payload_bucket}.Arn>/jobs/*"): (
            "Job data lives under jobs/<owner>/<id>/ for any owner and job; the grant is the jobs/ "
            "prefix, never the whole bucket."
        ),
        _iam5(f"<{jobs_table}.Arn>/index/*"): (
            "List and the pipeline query the job table's local secondary index (by_created)."
        ),
        _iam5("*"): (
            "X-Ray PutTraceSegments/PutTelemetryRecords, CloudWatch PutMetricData (with a namespace "
            "condition) and Step Functions log delivery (CreateLogDelivery & co.) support no "
            "resource-level permissions (infra.nag.RESOURCE_STAR_ACTIONS lists each)."
        ),
        _iam5(_STATES_EXECUTIONS + f"{config.resource_prefix}-batch-evaluation:*"): (
            "Executions are named per job at run time; the grant is every execution of this state machine."
        ),
        _iam5(f"{_LOGS}:*"): _QUERY_RESULTS,
    }
    key_reason = (
        "Callers may name their own KMS key per job (kmsKeyArn): use is limited to batch-evaluation data by "
        "the encryption-context condition batcheval:batchEvaluationArn (DescribeKey only reads metadata), "
        "and the caller's key policy must allow it too."
    )
    if config.allowedOrganizationId is not None:
        findings[_iam5("arn:<AWS::Partition>:kms:<AWS::Region>:*:key/*")] = (
            key_reason + " Any account of the configured organization (aws:ResourceOrgID condition)."
        )
        findings[_iam5(f"arn:<AWS::Partition>:iam::*:role/{config.callerRoleName}")] = (
            "The caller-access role of any account of the configured organization (aws:ResourceOrgID "
            "condition); its trust policy admits only the pipeline roles with the ExternalId."
        )
    for account in ("<AWS::AccountId>", *config.allowedAccountIds):
        findings[_iam5(f"arn:<AWS::Partition>:kms:<AWS::Region>:{account}:key/*")] = key_reason
    for name in config.traceLogGroupNames:
        findings[_iam5(_log_group_pattern(name))] = (
            f"Reading traces from the configured log group(s) {name} (traceLogGroupNames): Logs Insights and "
            "FilterLogEvents; `:*` is the ARN form covering a group's streams."
        )
    for name in config.outputLogGroupNames:
        findings[_iam5(_log_group_pattern(name))] = (
            f"Writing per-session results to the configured log group(s) {name} (outputLogGroupNames), "
            "chosen per job by outputConfig."
        )
    for model_id in config.judge.modelIds:
        _geography, _, model = model_id.partition(".")
        if not model_id.startswith("arn:") and model_id != model and "." in model:
            findings[_iam5(f"arn:<AWS::Partition>:bedrock:*::foundation-model/{model}")] = (
                f"The cross-Region inference profile {model_id} routes each call to {model} in any of the "
                "profile's Regions; Bedrock authorizes the model in the Region that serves it."
            )
    return findings


def acknowledge_service_findings(stack: Stack, config: BatchEvalConfig) -> None:
    storage = stack.node.find_child("Storage")
    _ack(
        stack,
        service_acknowledgments(
            config,
            jobs_table=_logical_id(storage.node.find_child("Jobs")),
            payload_bucket=_logical_id(storage.node.find_child("Payloads")),
        ),
    )
    _ack(
        storage.node.find_child("PayloadAccessLogs"),
        {"AwsSolutions-S1": "This bucket receives the payload bucket's access logs; logging it would loop."},
    )


def acknowledge_caller_findings(stack: Stack, patterns: dict[str, str]) -> None:
    """`patterns`: logical id of each log-group pattern parameter -> what it is for."""
    findings = {
        _iam5(f"{_LOGS}:*"): _QUERY_RESULTS,
        _iam5("*"): "CloudWatch PutMetricData supports no resource-level permissions; the "
        "cloudwatch:namespace condition limits it to the evaluations namespace.",
    }
    for parameter, purpose in patterns.items():
        findings[_iam5(f"{_LOGS}:<{parameter}>")] = (
            f"{purpose}: the caller chooses the pattern (a parameter); a trailing * is a name prefix."
        )
    _ack(stack, findings)
