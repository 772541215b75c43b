"""Capturing an entry point's Powertools JSON lines as in Lambda, leaving logging as it was."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aws_lambda_powertools import Logger

from batcheval.observability import DOMAIN_LOGGER, route_domain_logs


@contextmanager
def lambda_json_logs(logger: Logger, monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """`logger`'s output, in a process that looks like Lambda (LAMBDA_TASK_ROOT set).

    Everything the routing changes is put back afterwards: the `batcheval` logger's handlers, level and
    propagation, the logger's `name` key, the handler's stream and the once-per-process flag.
    """
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    domain = logging.getLogger(DOMAIN_LOGGER)
    handlers, level, propagate = list(domain.handlers), domain.level, domain.propagate
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    route_domain_logs.cache_clear()
    try:
        yield stream
    finally:
        route_domain_logs.cache_clear()
        if previous is not None:
            handler.setStream(previous)
        domain.handlers[:] = handlers
        domain.setLevel(level)
        domain.propagate = propagate
        logger.remove_keys(["name"])
        monkeypatch.delenv("LAMBDA_TASK_ROOT")


def json_lines(stream: io.StringIO, message: str) -> list[dict[str, Any]]:
    """The JSON lines of `stream` whose message is `message`."""
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line.get("message") == message]
