"""batcheval: self-hosted, wire-compatible Amazon Bedrock AgentCore batch evaluation."""

from __future__ import annotations

from batcheval.sdk import client

__all__ = ["__version__", "client"]
__version__ = "0.1.0"
