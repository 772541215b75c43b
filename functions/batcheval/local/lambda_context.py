"""A Lambda context object for handlers invoked in-process (Powertools reads these attributes)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

DEFAULT_TIMEOUT_MS = 29_000
"""API Gateway's integration timeout: no handler answer after this is useful to a caller."""


@dataclass(frozen=True, slots=True)
class LocalLambdaContext:
    function_name: str
    aws_request_id: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    _started: float = field(default_factory=time.monotonic, repr=False)

    def get_remaining_time_in_millis(self) -> int:
        elapsed_ms = int((time.monotonic() - self._started) * 1000)
        return max(0, self.timeout_ms - elapsed_ms)


def context_for(operation: str, *, request_id: str, region: str, account_id: str) -> LocalLambdaContext:
    """The context a per-operation function named `batcheval-<Operation>` would receive."""
    name = f"batcheval-{operation}"
    return LocalLambdaContext(
        function_name=name,
        aws_request_id=request_id,
        invoked_function_arn=f"arn:aws:lambda:{region}:{account_id}:function:{name}",
        log_group_name=f"/aws/lambda/{name}",
    )
