"""Embedded runtime: emulated AWS, local API server, local orchestrator, demo."""
