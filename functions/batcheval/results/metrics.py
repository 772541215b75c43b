"""A result as a CloudWatch Embedded Metric Format document (Powertools' EMF serializer).

Like AgentCore's emulation in Strands Evals (reference §3.3), the metric is named after the
evaluator and its value is the score (unit None), in namespace `Bedrock-AgentCore/Evaluations` unless
the job's `metricsNamespace` says otherwise. Dimension sets: `[service.name]`,
`[label, service.name]`, `[service.name, batchEvaluationId]`, `[label, service.name,
batchEvaluationId]` — AgentCore's online sets with the online config id replaced by the batch job
id, an inference. A result without a numeric value (an error, a categorical label) yields no metric:
a missing score is never charted as 0.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.metric_properties import MetricUnit

from batcheval.results.records import EvaluationResult

DEFAULT_NAMESPACE = "Bedrock-AgentCore/Evaluations"


def to_emf(
    result: EvaluationResult,
    *,
    service_name: str,
    batch_evaluation_id: str,
    timestamp_ms: int,
    namespace: str = DEFAULT_NAMESPACE,
) -> dict[str, Any] | None:
    """The EMF document for `result`, or None when it has no numeric score."""
    if result.value is None or result.failed:
        return None
    # service="" keeps POWERTOOLS_SERVICE_NAME from adding a `service` dimension of its own.
    emf = AmazonCloudWatchEMFProvider(namespace=namespace, service="")
    name = result.evaluator_name
    if result.evaluation_dimension_name:
        name = f"{name}.{result.evaluation_dimension_name}"
    emf.add_metric(name=name, unit=MetricUnit.NoUnit, value=result.value)
    emf.add_dimension(name="service.name", value=service_name)
    job = {"service.name": service_name, "batchEvaluationId": batch_evaluation_id}
    if result.label:
        emf.add_dimensions(**{"label": result.label, "service.name": service_name})
    emf.add_dimensions(**job)
    if result.label:
        emf.add_dimensions(**{"label": result.label, **job})
    emf.set_timestamp(timestamp_ms)
    return dict(emf.serialize_metric_set())
