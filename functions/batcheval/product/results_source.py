"""Per-session results, wherever they live: a result file, a job's S3 export, or its output log group.

Two file formats are accepted (the results-export contract):
- JSON Lines, one `EvaluationResult.to_record()` per line (plus `testScenarioId` when known): what a
  job exports under `jobs/{owner}/{jobId}/results/`;
- the JSON `batcheval evaluate --format json` prints: `{"results": [...], "evaluatorSummaries": [...]}`.
Records are kept as dicts in that record shape; `EvaluationResult.from_record` reads them.
"""

from __future__ import annotations

import codecs
import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgspec

from batcheval.errors import ValidationError

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_s3 import S3Client

_GZIP_MAGIC = b"\x1f\x8b"
_LEVELS = {"Session": "SESSION", "Trace": "TRACE", "Tool": "TOOL_CALL"}


@dataclass
class ResultSet:
    """The results of one run, with the run's own summaries when it came with them."""

    label: str
    """What the user named: a file path or a job id (shown in reports)."""
    results: list[dict[str, Any]]
    summaries: list[dict[str, Any]] | None = None
    job: dict[str, Any] | None = field(default=None)
    """The GetBatchEvaluation response, when the results come from a job."""


def parse_jsonl(lines: Iterator[bytes] | list[bytes], source: str) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = msgspec.json.decode(line)
        except ValueError as exc:
            raise ValidationError(f"{source}:{number}: not a JSON result record: {exc}") from exc
        if not isinstance(record, dict) or "evaluatorId" not in record or "context" not in record:
            raise ValidationError(f"{source}:{number}: not a result record (no evaluatorId/context)")
        yield record


def load_file(path: str) -> ResultSet:
    """A result file in either accepted format (gzip-compressed or not)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read result file {path}: {exc.strerror or exc}") from exc
    if raw.startswith(_GZIP_MAGIC):
        raw = gzip.decompress(raw)
    raw = raw.removeprefix(codecs.BOM_UTF8)  # a file saved with a byte-order mark
    try:
        document = msgspec.json.decode(raw)
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("results"), list):
        return ResultSet(path, list(document["results"]), document.get("evaluatorSummaries"))
    results = list(parse_jsonl(raw.splitlines(), path))
    if not results:
        raise ValidationError(
            f"{path}: no results (expected JSON Lines of result records or evaluate's JSON)"
        )
    return ResultSet(path, results)


def split_s3_uri(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValidationError(f"not an S3 URI: {uri!r}")
    return parts.netloc, parts.path.lstrip("/")


def iter_s3_export(s3: S3Client, uri: str) -> Iterator[dict[str, Any]]:
    """Every record of every object under the export prefix, objects in key order."""
    bucket, prefix = split_s3_uri(uri)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            if body.startswith(_GZIP_MAGIC):
                body = gzip.decompress(body)
            yield from parse_jsonl(body.splitlines(), f"s3://{bucket}/{item['Key']}")


def from_log_record(record: dict[str, Any]) -> dict[str, Any] | None:
    """A `gen_ai.evaluation.result` log record (results/otel.py) back in the result-record shape.

    The log record has no evaluator name, so the id stands in for it. None for other records.
    """
    attributes = record.get("attributes") or {}
    if attributes.get("event.name") != "gen_ai.evaluation.result":
        return None
    span = {"sessionId": attributes["session.id"]}
    if record.get("traceId"):
        span["traceId"] = record["traceId"]
    if record.get("spanId"):
        span["spanId"] = record["spanId"]
    out: dict[str, Any] = {
        "evaluatorId": attributes["gen_ai.evaluation.name"],
        "evaluatorName": attributes["gen_ai.evaluation.name"],
        "evaluatorArn": attributes.get("aws.bedrock_agentcore.evaluator.arn", ""),
        "context": {"spanContext": span},
        "evaluationLevel": _LEVELS.get(
            attributes.get("aws.bedrock_agentcore.evaluation_level", ""), "SESSION"
        ),
    }
    optional = {
        "evaluationDimensionName": "gen_ai.evaluation.dimension",
        "value": "gen_ai.evaluation.score.value",
        "label": "gen_ai.evaluation.score.label",
        "explanation": "gen_ai.evaluation.explanation",
        "errorCode": "error.type",
        "errorMessage": "error.message",
    }
    out.update({key: attributes[name] for key, name in optional.items() if name in attributes})
    if "gen_ai.usage.input_tokens" in attributes:
        tokens_in, tokens_out = (
            attributes["gen_ai.usage.input_tokens"],
            attributes["gen_ai.usage.output_tokens"],
        )
        out["tokenUsage"] = {
            "inputTokens": tokens_in,
            "outputTokens": tokens_out,
            "totalTokens": tokens_in + tokens_out,
        }
    return out


def iter_log_group(logs: CloudWatchLogsClient, group: str, job_arn: str) -> Iterator[dict[str, Any]]:
    """The job's results from its output log group (the records carry the job's ARN).

    The group may hold other jobs' records: they are read and skipped here (a filter pattern on an
    attribute with dots in its name is not portable across CloudWatch and its emulators).
    """
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
        for event in page.get("events", []):
            try:
                record = msgspec.json.decode(event["message"])
            except ValueError:
                continue  # another writer's line in the same group: not ours to read
            if isinstance(record, dict):
                result = from_log_record(record)
                if (
                    result is not None
                    and record.get("attributes", {}).get("aws.bedrock_agentcore.evaluation_job.arn")
                    == job_arn
                ):
                    yield result
