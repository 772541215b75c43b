"""Which instrumentation scopes the evaluation service understands (reference §2.3).

A span is *supported* when its `scope.name` is one of the named framework scopes or any other
`opentelemetry.instrumentation.*` / `openinference.instrumentation.*` scope, except *transport*
scopes (HTTP clients, web servers, MCP, the AWS SDK): those describe plumbing, not the agent, and are
ignored. Everything else is *unknown*.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

ScopeClass = Literal["supported", "transport", "unknown"]

SUPPORTED_SCOPES: tuple[str, ...] = (
    "strands.telemetry.tracer",
    "strands-agents",
    "opentelemetry.instrumentation.langchain",
    "openinference.instrumentation.langchain",
    "opentelemetry.instrumentation.openai_agents",
    "openinference.instrumentation.openai_agents",
)
"""Scopes named by the service's documentation (also listed in its "no supported scope" error)."""

GENERIC_PREFIXES: tuple[str, ...] = ("opentelemetry.instrumentation.", "openinference.instrumentation.")

TRANSPORT_LIBRARIES: frozenset[str] = frozenset(
    {
        "httpx",
        "urllib3",
        "urllib",
        "aiohttp_client",
        "aiohttp_server",
        "requests",
        "starlette",
        "fastapi",
        "asgi",
        "wsgi",
        "flask",
        "django",
        "grpc",
        "mcp",
        "botocore",
        "boto3sqs",
        "bedrock-agentcore",
        "bedrock-runtime",
        "threading",
        "asyncio",
        "logging",
        "system_metrics",
    }
)


@lru_cache(maxsize=512)
def classify_scope(name: str) -> ScopeClass:
    """Classify a `scope.name`; cached because a source has only a handful of distinct scopes."""
    if name in SUPPORTED_SCOPES:
        return "supported"
    for prefix in GENERIC_PREFIXES:
        if name.startswith(prefix):
            library = name[len(prefix) :].split(".", 1)[0].lower()
            return "transport" if library in TRANSPORT_LIBRARIES else "supported"
    return "unknown"


def no_supported_scope_message() -> str:
    """The service's per-session error when no span has a supported scope (reference §3.4)."""
    scopes = ", ".join(SUPPORTED_SCOPES)
    return f"Provided input has no spans with supported scope. Currently supported scopes are [{scopes}]"


NO_SPANS_TO_EVALUATE = (
    "Provided input has no spans to evaluate. Please ensure that spans in the session have "
    "model/tool/agent invocation details for the provided scope"
)
"""The service's per-session error when no span describes an agent, model or tool invocation."""
