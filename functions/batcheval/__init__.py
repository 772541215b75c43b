"""batcheval: self-hosted, wire-compatible Amazon Bedrock AgentCore batch evaluation."""

from __future__ import annotations

from batcheval.sdk import client, install

__all__ = ["__version__", "client", "install"]
__version__ = "0.1.0"
