"""Which log groups a job reads: the named ones, those under the prefixes, and `aws/spans` (split mode).

In split mode the runtime group holds only event records; their spans are in the shared `aws/spans`
group, which the service reads implicitly (reference §2.1). It is added when it exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from batcheval.errors import FieldIssue, ValidationError
from batcheval.traces.discovery.config import SourceQuery

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

AWS_SPANS_GROUP = "aws/spans"


def _existing(logs: CloudWatchLogsClient, prefix: str) -> list[str]:
    names: list[str] = []
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix):
        names.extend(group["logGroupName"] for group in page.get("logGroups", ()))
    return names


def resolve_log_groups(
    logs: CloudWatchLogsClient, query: SourceQuery, *, include_aws_spans: bool = True
) -> tuple[str, ...]:
    """Sorted, de-duplicated log group names; a named group that does not exist is a validation error."""
    groups: set[str] = set()
    for name in query.log_group_names:
        if name not in _existing(logs, name):
            raise ValidationError(
                f"Log group {name} does not exist",
                fields=[FieldIssue("dataSourceConfig.cloudWatchLogs.logGroupNames", f"{name} not found")],
            )
        groups.add(name)
    for prefix in query.log_group_prefixes:
        groups.update(_existing(logs, prefix))
    if include_aws_spans and AWS_SPANS_GROUP in _existing(logs, AWS_SPANS_GROUP):
        groups.add(AWS_SPANS_GROUP)
    return tuple(sorted(groups))
