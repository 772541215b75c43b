"""Where a job's per-session results go: `outputConfig.cloudWatchConfig` resolved as the service does.

Start and Get return the resolved config, with `logGroupName` and `logStreamName` filled in even when
the request gave none, so a caller can find the records:

- DEDICATED_LOG_GROUP (the default): the request's `logGroupName`, else the service-managed group
  `/aws/bedrock-agentcore/evaluations/batch` (reference §3.2's documented example); created if missing.
- SOURCE_LOG_GROUP: the job's trace source group (the first of `logGroupNames`; with prefixes only,
  the first group discovery resolves — filled in by the run's first step).
- `logStreamName`: the request's, else the job id. `metricsNamespace`: the request's, else
  `Bedrock-AgentCore/Evaluations`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_LOG_GROUP = "/aws/bedrock-agentcore/evaluations/batch"
DEFAULT_METRICS_NAMESPACE = "Bedrock-AgentCore/Evaluations"
DEDICATED = "DEDICATED_LOG_GROUP"
SOURCE = "SOURCE_LOG_GROUP"


def resolve_output_config(
    requested: Mapping[str, Any] | None,
    job_id: str,
    data_source: Mapping[str, Any] | None,
    *,
    source_log_groups: Sequence[str] = (),
) -> dict[str, Any]:
    """The full `outputConfig` for a job; `source_log_groups` are the groups discovery resolved."""
    config = dict((requested or {}).get("cloudWatchConfig") or {})
    destination = config.get("resultDestination") or DEDICATED
    group = config.get("logGroupName") or None
    if destination == SOURCE:
        names = list(((data_source or {}).get("cloudWatchLogs") or {}).get("logGroupNames") or [])
        candidates = names or list(source_log_groups)
        group = candidates[0] if candidates else None
    elif group is None:
        group = DEFAULT_LOG_GROUP
    resolved: dict[str, Any] = {
        "resultDestination": destination,
        "logStreamName": config.get("logStreamName") or job_id,
        "metricsNamespace": config.get("metricsNamespace") or DEFAULT_METRICS_NAMESPACE,
    }
    if group is not None:
        resolved["logGroupName"] = group
    return {"cloudWatchConfig": resolved}
