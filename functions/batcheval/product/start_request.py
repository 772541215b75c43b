"""The StartBatchEvaluation request `batcheval start` sends: a JSON file in the boto3 shape, plus flags.

Flags add to the file (lists are extended, duplicates dropped) or set what it leaves out; a flag
never silently overrides a different value from the file: that is a usage error naming both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from batcheval.errors import ValidationError
from batcheval.product.output import wire_time

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `24h`, `7d`, `2w`."""
    match = _DURATION.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise ValidationError(f"--since wants a positive duration like 30m, 24h or 7d, got {text!r}")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def parse_time(text: str, flag: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationError(
            f"{flag} wants an ISO 8601 time like 2026-12-01T00:00:00Z, got {text!r}"
        ) from exc
    if value.tzinfo is None:
        raise ValidationError(f"{flag} needs a time zone (e.g. a trailing Z for UTC), got {text!r}")
    return value


def read_json(path: str, what: str) -> Any:
    try:
        return msgspec.json.decode(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ValidationError(f"{what} {path} is not valid JSON: {exc}") from exc


def _set(target: dict[str, Any], key: str, value: Any, flag: str) -> None:
    if value is None:
        return
    if key in target and target[key] != value:
        raise ValidationError(f"{flag} {value!r} conflicts with {key}={target[key]!r} in the request file")
    target[key] = value


def _extend(target: dict[str, Any], key: str, values: Sequence[Any] | None) -> None:
    if not values:
        return
    existing = list(target.get(key) or [])
    existing.extend(v for v in values if v not in existing)
    target[key] = existing


def build_request(
    *,
    request_file: str | None = None,
    name: str | None = None,
    description: str | None = None,
    evaluators: Sequence[str] | None = None,
    service_names: Sequence[str] | None = None,
    log_groups: Sequence[str] | None = None,
    log_group_prefixes: Sequence[str] | None = None,
    session_ids: Sequence[str] | None = None,
    since: str | None = None,
    start_time: str | None = None,
    end_time: str | None = None,
    ground_truth: str | None = None,
    output_log_group: str | None = None,
    kms_key_arn: str | None = None,
    client_token: str | None = None,
    now: datetime,
) -> dict[str, Any]:
    """The request dict for `client.start_batch_evaluation(**request)`; the service validates the rest."""
    request: dict[str, Any] = {}
    if request_file is not None:
        loaded = read_json(request_file, "request file")
        if not isinstance(loaded, dict):
            raise ValidationError(f"request file {request_file} must hold a JSON object (the boto3 request)")
        request = loaded
    _set(request, "batchEvaluationName", name, "--name")
    request.setdefault("batchEvaluationName", "job_" + now.strftime("%Y%m%d_%H%M%S_%f"))
    _set(request, "description", description, "--description")
    _set(request, "kmsKeyArn", kms_key_arn, "--kms-key-arn")
    _set(request, "clientToken", client_token, "--client-token")
    if evaluators:
        listed = list(request.get("evaluators") or [])
        known = {e.get("evaluatorId") for e in listed if isinstance(e, dict)}
        listed.extend({"evaluatorId": e} for e in dict.fromkeys(evaluators) if e not in known)
        request["evaluators"] = listed
    logs = request.setdefault("dataSourceConfig", {}).setdefault("cloudWatchLogs", {})
    _extend(logs, "serviceNames", service_names)
    _extend(logs, "logGroupNames", log_groups)
    _extend(logs, "logGroupNamePrefixes", log_group_prefixes)
    window = _time_window(since, start_time, end_time, now)
    if session_ids or window:
        filters = logs.setdefault("filterConfig", {})
        _extend(filters, "sessionIds", session_ids)
        if window:
            _set(filters, "timeRange", window, "--since/--start-time/--end-time")
    if ground_truth is not None:
        entries = read_json(ground_truth, "ground-truth file")
        if not isinstance(entries, list):
            raise ValidationError(
                f"ground-truth file {ground_truth} must hold a JSON list of sessionMetadata entries"
            )
        _extend(request.setdefault("evaluationMetadata", {}), "sessionMetadata", entries)
    if output_log_group is not None:
        config = request.setdefault("outputConfig", {}).setdefault("cloudWatchConfig", {})
        _set(config, "logGroupName", output_log_group, "--output-log-group")
    return request


def _time_window(
    since: str | None, start: str | None, end: str | None, now: datetime
) -> dict[str, str] | None:
    if since is not None and start is not None:
        raise ValidationError("give --since or --start-time, not both")
    if since is None and start is None and end is None:
        return None
    end_at = parse_time(end, "--end-time") if end is not None else now
    start_at = end_at - parse_duration(since) if since is not None else None
    if start is not None:
        start_at = parse_time(start, "--start-time")
    window = {"endTime": wire_time(end_at)}
    if start_at is not None:
        if start_at >= end_at:
            raise ValidationError("the time window is empty: the start is not before the end")
        window["startTime"] = wire_time(start_at)
    return window
