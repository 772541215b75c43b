"""The job record: what the store keeps about one batch evaluation, independent of the wire format.

Echo fields (`evaluators`, `output_config`, ...) are the request's JSON-ready parts, kept as plain
dicts so the jobs layer does not depend on the API adapter's models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from batcheval.jobs.status import JobStatus


@dataclass(frozen=True)
class SpecLocation:
    """Where the full job request (incl. ground truth) is stored: S3, SSE-KMS with `kms_key_arn`."""

    bucket: str
    key: str
    kms_key_arn: str


@dataclass(frozen=True)
class Job:
    owner: str
    job_id: str
    arn: str
    name: str
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    spec: SpecLocation
    # sha256 of the Start request without its clientToken: tells a replay from a conflicting reuse.
    request_hash: str
    description: str | None = None
    evaluators: list[dict[str, Any]] | None = None
    output_config: dict[str, Any] | None = None
    # The caller's key from the request; None when the stack key protects the job's data.
    kms_key_arn: str | None = None
    tags: dict[str, str] | None = None
    # Inline copy of the request's dataSourceConfig; None when it was too large for the item
    # (`data_source_in_s3` is then True: it is in its own object next to the spec).
    data_source_config: dict[str, Any] | None = None
    data_source_in_s3: bool = False
    client_token: str | None = None
    # Identifier of the pipeline run (e.g. a Step Functions execution ARN); None = never started.
    run_id: str | None = None
    evaluation_results: dict[str, Any] | None = None
    """Final evaluationResults (set when the run ends); while running, `progress` answers instead."""
    error_details: list[str] = field(default_factory=list)
    progress: RunProgress | None = None
    """Live session counters the pipeline moves while the job runs; None before discovery."""
    results_export: str | None = None
    """s3:// prefix of the per-session JSONL results export, once results exist."""
    retry_manifest: str | None = None
    """Set by "retry failed sessions": the run scores this manifest's sessions instead of discovering."""

    def wire_results(self) -> dict[str, Any] | None:
        """evaluationResults as Get shows it: the final one, else the live counters."""
        if self.evaluation_results is not None:
            return self.evaluation_results
        return self.progress.to_wire() if self.progress is not None else None


@dataclass(frozen=True)
class RunProgress:
    """Session counts of a running job. `total` is every session discovered; `ignored` were left out."""

    total: int
    ignored: int = 0
    completed: int = 0
    failed: int = 0

    @property
    def in_progress(self) -> int:
        return max(0, self.total - self.ignored - self.completed - self.failed)

    def to_wire(self) -> dict[str, Any]:
        return {
            "numberOfSessionsCompleted": self.completed,
            "numberOfSessionsInProgress": self.in_progress,
            "numberOfSessionsFailed": self.failed,
            "totalNumberOfSessions": self.total,
            "numberOfSessionsIgnored": self.ignored,
        }


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    next_token: str | None
