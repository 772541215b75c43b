"""What the CLI prints: JSON for scripts, aligned tables for humans, errors on stderr.

Every command prints through these helpers, so all of them agree on one table layout, one JSON
encoding (timestamps as the wire had them) and one error format.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

USAGE_ERROR = 2
"""Bad arguments or unreadable input."""
SERVICE_ERROR = 1
"""The service refused or failed the request, or the work itself failed."""


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, datetime):
        return wire_time(value)
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Left-aligned columns separated by two spaces; trailing blanks trimmed."""
    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.extend("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells)
    return "\n".join(line.rstrip() for line in lines)


def wire_time(value: datetime) -> str:
    """A timestamp as the wire carries it (boto3 parses them into datetimes)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_json(value: Any) -> str:
    """Indented JSON; datetimes (boto3's are UTC) as the wire's `...Z` form, anything else unknown as text."""
    return msgspec.json.format(msgspec.json.encode(value, enc_hook=str), indent=2).decode()


def without_metadata(response: Mapping[str, Any]) -> dict[str, Any]:
    """A boto3 response without `ResponseMetadata` (transport detail, not the service's answer)."""
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def fail(message: str, code: int = USAGE_ERROR) -> int:
    print(f"batcheval: error: {message}", file=sys.stderr)
    return code


def warn(message: str) -> None:
    print(f"batcheval: warning: {message}", file=sys.stderr)


def note(message: str) -> None:
    """Progress and status for humans: stderr, so stdout stays parseable."""
    print(message, file=sys.stderr, flush=True)
