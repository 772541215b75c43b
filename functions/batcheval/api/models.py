"""Wire models of the five batch-evaluation operations, mirroring botocore's `bedrock-agentcore` shapes.

Field names are the wire member names (camelCase) so a model reads like the service model and the
contract test (`tests/unit/api/test_model_contract.py`) can compare them member by member. botocore
patterns are unanchored but AWS validates the whole value, so every pattern here is the botocore
pattern wrapped by `anchored()`. Request models forbid unknown members (a typo is an error, never
silently ignored); response models may carry additive extension fields. Containers that may hold
hundreds of thousands of values (`turns`, `metadata`, `tags`, the 500-entry lists) stop at their
first bad value (`fail_fast`), so validating a hostile request costs little and reports little.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    model_validator,
)

from batcheval.jobs.status import JobStatus


def anchored(pattern: str) -> str:
    """The full-match form of a botocore pattern (botocore stores them unanchored)."""
    return f"^(?:{pattern})$"


def format_timestamp(value: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS(.ffffff)Z`, the form AWS rest-json services emit and boto3 parses."""
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


# A timezone-aware instant: accepts ISO-8601 with offset or epoch seconds (what boto3 may send);
# a naive time is rejected rather than guessed. Always emitted in UTC with `Z`.
Timestamp = Annotated[AwareDatetime, PlainSerializer(format_timestamp, return_type=str, when_used="json")]

EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(2100, 1, 1, tzinfo=UTC)
INSTANT_RANGE_MESSAGE = (
    f"must be from {format_timestamp(EARLIEST_INSTANT)} to before {format_timestamp(LATEST_INSTANT)}"
    f" (epoch seconds 0 to {int(LATEST_INSTANT.timestamp())})"
)


def _epoch_seconds(value: Any) -> Any:
    """A number is epoch seconds, as botocore sends timestamps in JSON bodies (pydantic alone would
    read one above 2e10 as milliseconds)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value) if abs(value) < 1e300 else math.inf
        if not (math.isfinite(seconds) and 0 <= seconds < LATEST_INSTANT.timestamp()):
            raise ValueError(INSTANT_RANGE_MESSAGE)
        return datetime.fromtimestamp(seconds, UTC)
    return value


def _in_range(value: datetime) -> datetime:
    if not EARLIEST_INSTANT <= value < LATEST_INSTANT:
        raise ValueError(INSTANT_RANGE_MESSAGE)
    return value


# A request instant: epoch seconds or ISO-8601 with an offset, within [1970, 2100).
RequestTimestamp = Annotated[Timestamp, BeforeValidator(_epoch_seconds), AfterValidator(_in_range)]


def _s(
    pattern: str | None = None, min_length: int | None = None, max_length: int | None = None
) -> StringConstraints:
    return StringConstraints(
        pattern=anchored(pattern) if pattern is not None else None,
        min_length=min_length,
        max_length=max_length,
    )


# ---- botocore string shapes -------------------------------------------------------------------
BATCH_EVALUATION_NAME_PATTERN = "[a-zA-Z][a-zA-Z0-9_]{0,47}"
BATCH_EVALUATION_ID_PATTERN = "[a-zA-Z][a-zA-Z0-9-_]{0,99}-[a-zA-Z0-9]{10}"

BatchEvaluationName = Annotated[str, _s(BATCH_EVALUATION_NAME_PATTERN)]
BatchEvaluationId = Annotated[str, _s(BATCH_EVALUATION_ID_PATTERN)]
BatchEvaluationDescription = Annotated[str, _s(min_length=0, max_length=200)]
EvaluatorId = Annotated[
    str,
    _s(
        r"(Builtin\.[a-zA-Z0-9._-]+|ThirdParty\.[a-zA-Z0-9_-]+\.[a-zA-Z0-9_-]+"
        r"|[a-zA-Z][a-zA-Z0-9-_]{0,99}-[a-zA-Z0-9]{10})",
        1,
        111,
    ),
]
InsightId = Annotated[str, _s(r"(Builtin\.[a-zA-Z0-9._-]+|[a-zA-Z][a-zA-Z0-9-_]{0,99}-[a-zA-Z0-9]{10})")]
LogGroupName = Annotated[str, _s(r"[.\-_/#A-Za-z0-9]+")]
LogGroupNamePrefix = Annotated[str, _s(r"[.\-_/#A-Za-z0-9]+", 1, 512)]
TraceId = Annotated[str, _s(min_length=32, max_length=32)]
OnlineEvaluationConfigArn = Annotated[
    str,
    _s(
        r"arn:aws[a-zA-Z-]*:bedrock-agentcore:[a-z0-9-]+:[0-9]{12}:online-evaluation-config\/"
        r"[a-zA-Z][a-zA-Z0-9-_]{0,99}-[a-zA-Z0-9]{10}"
    ),
]
ClientToken = Annotated[str, _s("[a-zA-Z0-9](-*[a-zA-Z0-9]){0,256}", 33, 256)]
EvaluationContentText = Annotated[str, _s(min_length=1, max_length=100000)]
EvaluationToolName = Annotated[str, _s(min_length=1, max_length=500)]
GroundTruthTurnPrompt = Annotated[str, _s(min_length=0, max_length=4000)]
TagKey = Annotated[str, _s(r"[a-zA-Z0-9\s._:/=+@-]*", 1, 128)]
TagValue = Annotated[str, _s(r"[a-zA-Z0-9\s._:/=+@-]*", 0, 256)]
KmsKeyArn = Annotated[
    str, _s("arn:aws(|-cn|-us-gov):kms:[a-zA-Z0-9-]*:[0-9]{12}:key/[a-zA-Z0-9-]{36}", 1, 2048)
]
OptionalLogGroupName = Annotated[str, _s(r"$|^[.\-_/#A-Za-z0-9]+")]
LogStreamName = Annotated[str, _s("[^:*]*")]
MetricsNamespace = Annotated[str, _s("[a-zA-Z0-9._#/:-]+", 1, 255)]
DatasetId = Annotated[str, _s("[a-zA-Z0-9_-]{1,110}")]
DatasetVersion = Annotated[str, _s("(DRAFT|[0-9]{1,19})", 1, 19)]
AgentRuntimeEndpointArn = Annotated[
    str,
    _s(
        "arn:aws(-[^:]+)?:bedrock-agentcore:[a-z0-9-]+:[0-9]{12}:runtime/[a-zA-Z][a-zA-Z0-9_]{0,47}"
        "-[a-zA-Z0-9]{10}/runtime-endpoint/[a-zA-Z][a-zA-Z0-9_]{0,47}"
    ),
]
AgentRuntimeVersion = Annotated[str, _s("([1-9][0-9]{0,4})", 1, 5)]
RequestTemplate = Annotated[str, _s(min_length=0, max_length=10240)]
ErrorDetail = Annotated[str, _s(min_length=0, max_length=1000)]
InsightName = Annotated[str, _s(min_length=1, max_length=200)]
InsightDescription = Annotated[str, _s(min_length=1, max_length=4000)]
SessionId = Annotated[str, _s("[a-zA-Z0-9][a-zA-Z0-9-_]*", 1, 100)]
FindingTargetId = Annotated[str, _s(min_length=1, max_length=50)]
FindingDescription = Annotated[str, _s(min_length=1, max_length=500)]
FindingCategory = Annotated[str, _s(min_length=1, max_length=100)]
RootCauseName = Annotated[str, _s(min_length=1, max_length=200)]
RootCauseExplanation = Annotated[str, _s(min_length=1, max_length=4000)]
SuggestedFix = Annotated[str, _s(min_length=1, max_length=4000)]

BatchEvaluationStatus = JobStatus
ResultDestination = Literal["DEDICATED_LOG_GROUP", "SOURCE_LOG_GROUP"]
InsightType = Literal["FAILURE"]
FindingTargetType = Literal["SPAN_ID", "TRACE_ID", "SPAN_NAME"]
InsightsFailureCategory = Literal[
    "execution-error-category-authentication",
    "execution-error-category-resource-not-found",
    "execution-error-category-service-errors",
    "execution-error-category-rate-limiting",
    "execution-error-category-formatting",
    "execution-error-category-timeout",
    "execution-error-category-resource-exhaustion",
    "execution-error-category-environment",
    "execution-error-category-tool-schema",
    "task-instruction-category-non-compliance",
    "task-instruction-category-problem-id",
    "incorrect-actions-category-tool-selection",
    "incorrect-actions-category-poor-information-retrieval",
    "incorrect-actions-category-clarification",
    "incorrect-actions-category-inappropriate-info-request",
    "context-handling-error-category-context-handling-failures",
    "hallucination-category-hall-capabilities",
    "hallucination-category-hall-misunderstand",
    "hallucination-category-hall-usage",
    "hallucination-category-hall-history",
    "hallucination-category-hall-params",
    "hallucination-category-fabricate-tool-outputs",
    "repetitive-behavior-category-repetition-tool",
    "repetitive-behavior-category-repetition-info",
    "repetitive-behavior-category-step-repetition",
    "orchestration-related-errors-category-reasoning-mismatch",
    "orchestration-related-errors-category-goal-deviation",
    "orchestration-related-errors-category-premature-termination",
    "orchestration-related-errors-category-unaware-termination",
    "llm-output-category-nonsensical",
    "configuration-mismatch-category-tool-definition",
    "coding-use-case-specific-failure-types-category-edge-case-oversights",
    "coding-use-case-specific-failure-types-category-dependency-issues",
    "other",
]


# ---- base classes -------------------------------------------------------------------------------
class WireModel(BaseModel):
    """A structure shape. Requests forbid unknown members; see `ResponseModel` for responses."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # True for botocore `union` structures: exactly one member must be set.
    wire_union: ClassVar[bool] = False

    @model_validator(mode="after")
    def _exactly_one_member(self) -> WireModel:
        if self.wire_union:
            present = [name for name in type(self).model_fields if getattr(self, name) is not None]
            if len(present) != 1:
                members = ", ".join(type(self).model_fields)
                raise ValueError(f"exactly one of [{members}] must be set, got {len(present)}")
        return self

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready wire form: unset members are omitted, timestamps formatted."""
        return self.model_dump(mode="json", exclude_none=True)


class ResponseModel(WireModel):
    """Response structures tolerate additive extension members (boto3 ignores unknown members)."""

    model_config = ConfigDict(extra="allow", frozen=True)


# ---- shared structures ---------------------------------------------------------------------------
class Evaluator(WireModel):
    evaluatorId: EvaluatorId


class Insight(WireModel):
    insightId: InsightId


class SessionFilterConfig(WireModel):
    startTime: RequestTimestamp | None = None
    endTime: RequestTimestamp | None = None

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> SessionFilterConfig:
        # Sessions are selected with startTime <= activity < endTime: an empty window can never
        # match, so the job would only fail later with "no sessions found".
        if self.startTime is not None and self.endTime is not None and self.endTime <= self.startTime:
            raise ValueError("endTime must be after startTime")
        return self


class SessionTraceIds(WireModel):
    sessionId: str
    traceIds: Annotated[list[TraceId], Field(min_length=1, max_length=100)]


class CloudWatchFilterConfig(WireModel):
    sessionIds: Annotated[list[str], Field(min_length=0, max_length=500, fail_fast=True)] | None = None
    timeRange: SessionFilterConfig | None = None
    sessionTraceIds: (
        Annotated[list[SessionTraceIds], Field(min_length=1, max_length=500, fail_fast=True)] | None
    ) = None


class CloudWatchLogsSource(WireModel):
    serviceNames: Annotated[list[str], Field(min_length=1, max_length=1)]
    logGroupNames: Annotated[list[LogGroupName], Field(min_length=0, max_length=10)] | None = None
    logGroupNamePrefixes: Annotated[list[LogGroupNamePrefix], Field(min_length=1, max_length=5)] | None = None
    filterConfig: CloudWatchFilterConfig | None = None


class OnlineEvaluationConfigSource(WireModel):
    onlineEvaluationConfigArn: OnlineEvaluationConfigArn
    timeRange: SessionFilterConfig | None = None


class DataSourceConfig(WireModel):
    wire_union = True
    cloudWatchLogs: CloudWatchLogsSource | None = None
    onlineEvaluationConfigSource: OnlineEvaluationConfigSource | None = None


class EvaluationContent(WireModel):
    wire_union = True
    text: EvaluationContentText | None = None


class EvaluationExpectedTrajectory(WireModel):
    toolNames: (
        Annotated[list[EvaluationToolName], Field(min_length=0, max_length=1000, fail_fast=True)] | None
    ) = None


class GroundTruthTurnInput(WireModel):
    wire_union = True
    prompt: GroundTruthTurnPrompt | None = None


class GroundTruthTurn(WireModel):
    input: GroundTruthTurnInput | None = None
    expectedResponse: EvaluationContent | None = None


class InlineGroundTruth(WireModel):
    assertions: Annotated[list[EvaluationContent], Field(min_length=1, max_length=100)] | None = None
    expectedTrajectory: EvaluationExpectedTrajectory | None = None
    turns: Annotated[list[GroundTruthTurn], Field(min_length=1, fail_fast=True)] | None = None


class GroundTruthSource(WireModel):
    wire_union = True
    inline: InlineGroundTruth | None = None


class SessionMetadataShape(WireModel):
    sessionId: str
    testScenarioId: str | None = None
    groundTruth: GroundTruthSource | None = None
    metadata: Annotated[dict[str, str], Field(fail_fast=True)] | None = None


class EvaluationMetadata(WireModel):
    wire_union = True
    sessionMetadata: (
        Annotated[list[SessionMetadataShape], Field(min_length=0, max_length=500, fail_fast=True)] | None
    ) = None


class CloudWatchOutputConfig(WireModel):
    logGroupName: OptionalLogGroupName | None = None
    logStreamName: LogStreamName | None = None
    metricsNamespace: MetricsNamespace | None = None
    resultDestination: ResultDestination | None = None


class OutputConfig(WireModel):
    wire_union = True
    cloudWatchConfig: CloudWatchOutputConfig | None = None


class DatasetSource(WireModel):
    datasetId: DatasetId
    datasetVersion: DatasetVersion | None = None


class AgentCoreRuntimeInvocation(WireModel):
    agentRuntimeEndpointArn: AgentRuntimeEndpointArn
    requestTemplate: RequestTemplate | None = None


class AgentInvocationConfig(WireModel):
    wire_union = True
    agentCoreRuntime: AgentCoreRuntimeInvocation | None = None


class DatasetExecutionConfig(WireModel):
    dataset: DatasetSource
    agentInvocation: AgentInvocationConfig


TagsMap = Annotated[dict[TagKey, TagValue], Field(min_length=0, max_length=50, fail_fast=True)]


# ---- results (Get / List) ---------------------------------------------------------------------
class EvaluatorStatistics(ResponseModel):
    averageScore: float | None = None


class EvaluatorSummary(ResponseModel):
    evaluatorId: str | None = None
    evaluationDimensionName: str | None = None
    statistics: EvaluatorStatistics | None = None
    totalEvaluated: int | None = None
    totalFailed: int | None = None


class EvaluationJobResults(ResponseModel):
    numberOfSessionsCompleted: int | None = None
    numberOfSessionsInProgress: int | None = None
    numberOfSessionsFailed: int | None = None
    totalNumberOfSessions: int | None = None
    numberOfSessionsIgnored: int | None = None
    evaluatorSummaries: list[EvaluatorSummary] | None = None


class SessionFinding(ResponseModel):
    targetId: FindingTargetId | None = None
    targetType: FindingTargetType | None = None
    description: FindingDescription
    category: FindingCategory | None = None
    confidence: Annotated[float, Field(ge=0, le=1)] | None = None


class SampleSession(ResponseModel):
    sessionId: SessionId
    lastSeenAt: Timestamp | None = None
    findings: Annotated[list[SessionFinding], Field(min_length=0, max_length=10)] | None = None


class InsightRootCause(ResponseModel):
    name: RootCauseName
    explanation: RootCauseExplanation
    affectedSessionCount: int | None = None
    suggestedFix: SuggestedFix | None = None
    sampleSessions: Annotated[list[SampleSession], Field(min_length=0, max_length=10)] | None = None


class InsightResult(ResponseModel):
    type: InsightType
    name: InsightName
    description: InsightDescription
    createdAt: Timestamp
    affectedSessionCount: int | None = None
    sampleSessions: Annotated[list[SampleSession], Field(min_length=0, max_length=10)] | None = None
    rootCauses: Annotated[list[InsightRootCause], Field(min_length=0, max_length=50)] | None = None


class InsightsFailureSignal(ResponseModel):
    category: InsightsFailureCategory
    evidence: str
    confidence: float


class FailureSpanDetail(ResponseModel):
    spanId: str
    traceId: str
    signals: list[InsightsFailureSignal]


class AffectedSession(ResponseModel):
    sessionId: str
    explanation: str
    fixType: str
    recommendation: str
    failureSpans: Annotated[list[FailureSpanDetail], Field(min_length=0)]


class RootCauseCluster(ResponseModel):
    clusterId: int
    name: str
    rootCause: str
    recommendation: str
    affectedSessionCount: int
    affectedSessions: Annotated[list[AffectedSession], Field(min_length=0)]


class FailureSubCategoryCluster(ResponseModel):
    clusterId: int
    name: str
    description: str
    affectedSessionCount: int
    rootCauses: Annotated[list[RootCauseCluster], Field(min_length=0)]


class FailureCategoryCluster(ResponseModel):
    clusterId: int
    name: str
    description: str
    affectedSessionCount: int
    subCategories: Annotated[list[FailureSubCategoryCluster], Field(min_length=0)]


class FailureAnalysisResultContent(ResponseModel):
    failures: Annotated[list[FailureCategoryCluster], Field(min_length=0)]


class UserIntentAffectedSession(ResponseModel):
    sessionId: str
    userMessages: list[str]


class UserIntentCluster(ResponseModel):
    clusterId: int
    name: str
    description: str
    affectedSessionCount: int
    affectedSessions: Annotated[list[UserIntentAffectedSession], Field(min_length=0)]


class UserIntentClusteringResultContent(ResponseModel):
    userIntents: Annotated[list[UserIntentCluster], Field(min_length=0)]


class ExecutionSummaryAffectedSession(ResponseModel):
    sessionId: str
    approachTaken: str
    finalOutcome: str


class ExecutionSummaryCluster(ResponseModel):
    clusterId: int
    name: str
    description: str
    affectedSessionCount: int
    affectedSessions: Annotated[list[ExecutionSummaryAffectedSession], Field(min_length=0)]


class ExecutionSummaryClusteringResultContent(ResponseModel):
    executionSummaries: Annotated[list[ExecutionSummaryCluster], Field(min_length=0)]


class DatasetDetails(ResponseModel):
    datasetId: DatasetId
    datasetVersion: DatasetVersion


class AgentCoreRuntimeInvocationDetails(ResponseModel):
    agentRuntimeEndpointArn: AgentRuntimeEndpointArn
    agentRuntimeVersion: AgentRuntimeVersion
    requestTemplate: RequestTemplate | None = None


class AgentInvocationDetails(ResponseModel):
    wire_union = True
    agentCoreRuntime: AgentCoreRuntimeInvocationDetails | None = None


class DatasetExecutionDetails(ResponseModel):
    dataset: DatasetDetails
    agentInvocation: AgentInvocationDetails


ErrorDetailsList = Annotated[list[ErrorDetail], Field(min_length=0, max_length=1)]
InsightList = Annotated[list[Insight], Field(min_length=0, max_length=10)]


# ---- operations -----------------------------------------------------------------------------------
class StartBatchEvaluationRequest(WireModel):
    batchEvaluationName: BatchEvaluationName
    evaluators: Annotated[list[Evaluator], Field(min_length=0, max_length=10)] | None = None
    insights: Annotated[list[Insight], Field(min_length=0, max_length=10)] | None = None
    dataSourceConfig: DataSourceConfig
    clientToken: ClientToken | None = None
    evaluationMetadata: EvaluationMetadata | None = None
    tags: TagsMap | None = None
    kmsKeyArn: KmsKeyArn | None = None
    description: BatchEvaluationDescription | None = None
    outputConfig: OutputConfig | None = None
    datasetExecutionConfig: DatasetExecutionConfig | None = None


class StartBatchEvaluationResponse(ResponseModel):
    batchEvaluationId: BatchEvaluationId
    batchEvaluationArn: str
    batchEvaluationName: BatchEvaluationName
    evaluators: list[Evaluator] | None = None
    insights: InsightList | None = None
    status: BatchEvaluationStatus
    createdAt: Timestamp
    outputConfig: OutputConfig | None = None
    tags: TagsMap | None = None
    kmsKeyArn: KmsKeyArn | None = None
    description: BatchEvaluationDescription | None = None


class GetBatchEvaluationRequest(WireModel):
    batchEvaluationId: BatchEvaluationId


class GetBatchEvaluationResponse(ResponseModel):
    batchEvaluationId: BatchEvaluationId
    batchEvaluationArn: str
    batchEvaluationName: BatchEvaluationName
    status: BatchEvaluationStatus
    createdAt: Timestamp
    evaluators: list[Evaluator] | None = None
    insights: InsightList | None = None
    dataSourceConfig: DataSourceConfig | None = None
    outputConfig: OutputConfig | None = None
    evaluationResults: EvaluationJobResults | None = None
    insightResults: Annotated[list[InsightResult], Field(min_length=0, max_length=50)] | None = None
    failureAnalysisResult: FailureAnalysisResultContent | None = None
    userIntentResult: UserIntentClusteringResultContent | None = None
    executionSummaryResult: ExecutionSummaryClusteringResultContent | None = None
    errorDetails: ErrorDetailsList | None = None
    description: BatchEvaluationDescription | None = None
    updatedAt: Timestamp | None = None
    kmsKeyArn: KmsKeyArn | None = None
    datasetExecutionDetails: DatasetExecutionDetails | None = None


class ListBatchEvaluationsRequest(WireModel):
    maxResults: Annotated[int, Field(ge=1, le=100)] | None = None
    nextToken: str | None = None


class BatchEvaluationSummary(ResponseModel):
    batchEvaluationId: BatchEvaluationId
    batchEvaluationArn: str
    batchEvaluationName: BatchEvaluationName
    status: BatchEvaluationStatus
    createdAt: Timestamp
    description: BatchEvaluationDescription | None = None
    evaluators: list[Evaluator] | None = None
    insights: InsightList | None = None
    evaluationResults: EvaluationJobResults | None = None
    errorDetails: ErrorDetailsList | None = None
    kmsKeyArn: KmsKeyArn | None = None
    updatedAt: Timestamp | None = None


class ListBatchEvaluationsResponse(ResponseModel):
    batchEvaluations: list[BatchEvaluationSummary]
    nextToken: str | None = None


class StopBatchEvaluationRequest(WireModel):
    batchEvaluationId: BatchEvaluationId


class StopBatchEvaluationResponse(ResponseModel):
    batchEvaluationId: BatchEvaluationId
    batchEvaluationArn: str
    status: BatchEvaluationStatus
    description: BatchEvaluationDescription | None = None


class DeleteBatchEvaluationRequest(WireModel):
    batchEvaluationId: BatchEvaluationId


class DeleteBatchEvaluationResponse(ResponseModel):
    batchEvaluationId: BatchEvaluationId
    batchEvaluationArn: str
    status: BatchEvaluationStatus


# Operation name → (request model, response model): the contract test and the handlers share it.
OPERATIONS: dict[str, tuple[type[WireModel], type[WireModel]]] = {
    "StartBatchEvaluation": (StartBatchEvaluationRequest, StartBatchEvaluationResponse),
    "GetBatchEvaluation": (GetBatchEvaluationRequest, GetBatchEvaluationResponse),
    "ListBatchEvaluations": (ListBatchEvaluationsRequest, ListBatchEvaluationsResponse),
    "StopBatchEvaluation": (StopBatchEvaluationRequest, StopBatchEvaluationResponse),
    "DeleteBatchEvaluation": (DeleteBatchEvaluationRequest, DeleteBatchEvaluationResponse),
}
