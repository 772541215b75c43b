"""Print a service error in full: its code, message, and (for ValidationException) reason and fields.

boto3's own `str(ClientError)` drops `reason` and `fieldList`, which is where the service says which
field is wrong and why; people need all of it to fix a request.
"""

from __future__ import annotations

import sys
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from batcheval.product.output import SERVICE_ERROR


def describe(error: ClientError) -> str:
    response: dict[str, Any] = dict(error.response)
    details = response.get("Error", {})
    code = details.get("Code", "Unknown")
    lines = [f"{code}: {details.get('Message', '')}".rstrip()]
    if response.get("reason"):
        lines.append(f"  reason: {response['reason']}")
    for issue in response.get("fieldList") or []:
        lines.append(f"  {issue.get('name')}: {issue.get('message')}")
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code == "MissingAuthenticationTokenException" and status == 403:
        lines.append(
            "  (API Gateway answers this for a path it does not have: check --endpoint-url, including the "
            "stage, and that the API is a batcheval version offering this operation)"
        )
    return "\n".join(lines)


def report(error: ClientError | BotoCoreError) -> int:
    """Print `error` on stderr; the exit code for a refused or failed request."""
    text = describe(error) if isinstance(error, ClientError) else f"{type(error).__name__}: {error}"
    print(f"batcheval: error: {text}", file=sys.stderr)
    return SERVICE_ERROR
