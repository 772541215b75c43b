"""The step handlers' logs and traces: Powertools JSON in Lambda, the program's own logging elsewhere."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import botocore.client
import pytest

from batcheval.jobs.ledger import RunLedger
from batcheval.observability import DOMAIN_LOGGER, pipeline_logger, tracer
from batcheval.pipeline.handlers import aggregate
from tests.integration.lambda_logs import json_lines, lambda_json_logs
from tests.integration.pipeline.conftest import FakeContext, Pipeline


@pytest.fixture
def lambda_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    with lambda_json_logs(pipeline_logger, monkeypatch) as stream:
        yield stream


def _orphaned_batch(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A job whose first batch claimed its sessions and died before its commit (Aggregate commits it)."""
    job = pipeline.start()
    items = pipeline.manifest_items(pipeline.discover(job))

    def die(self: RunLedger, owner: str, job_id: str, commit: Any) -> None:
        raise ConnectionError("the Lambda died")

    with monkeypatch.context() as patch:
        patch.setattr(RunLedger, "commit", die)
        with pytest.raises(ConnectionError):
            pipeline.score(job, items[:4])
    pipeline.score(job, items[4:])
    return job


def test_in_lambda_a_domain_loggers_extra_fields_are_keys_of_the_json_line(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, lambda_logs: io.StringIO
):
    # Given a batch that died after claiming its sessions, and a process that runs in Lambda
    job = _orphaned_batch(pipeline, monkeypatch)
    lambda_logs.truncate(0)
    lambda_logs.seek(0)
    context = FakeContext()

    # When the Aggregate handler commits it (batcheval.runs.lifecycle logs with extra={"part", "sessions"})
    event = {"owner": job.owner, "batchEvaluationId": job.job_id, "mapRun": None}
    assert aggregate.lambda_handler(event, context)["status"] == "COMPLETED"

    # Then that stdlib logger's line is Powertools JSON with the extra fields as keys,
    (line,) = json_lines(lambda_logs, "committing orphaned batch")
    assert line["level"] == "WARNING"
    assert line["name"] == "batcheval.runs.lifecycle"
    assert line["sessions"] == 4
    assert isinstance(line["part"], str)
    assert line["part"]
    # and carries the invocation's context and the job as correlation id
    assert line["correlation_id"] == job.job_id
    assert line["function_request_id"] == context.aws_request_id
    assert line["function_name"] == context.function_name
    assert line["service"] == "batcheval-pipeline"


def test_outside_lambda_the_domain_loggers_keep_the_programs_logging(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    # Given a process that is not Lambda (the local runtime, tests)
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    job = _orphaned_batch(pipeline, monkeypatch)

    # When the Aggregate handler logs through a domain logger
    with caplog.at_level(logging.WARNING, logger="batcheval.runs.lifecycle"):
        pipeline.aggregate(job)

    # Then the record reaches the root logger's handlers (the program's own setup), with its extra fields
    (record,) = [r for r in caplog.records if r.getMessage() == "committing orphaned batch"]
    assert record.__dict__["sessions"] == 4
    assert logging.getLogger(DOMAIN_LOGGER).propagate is True


def test_outside_lambda_an_invocation_leaves_the_shared_logger_keys_alone(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
):
    # Given a process that is not Lambda, where the local runtime runs step invocations concurrently
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    job = pipeline.start()
    before = dict(pipeline_logger.get_current_keys())

    # When a step handler runs with an invocation context
    event = {"owner": job.owner, "batchEvaluationId": job.job_id, "mapRun": None}
    aggregate.lambda_handler(event, FakeContext())

    # Then the logger's process-wide keys are untouched: injecting one invocation's context and
    # correlation id there races with (and mislabels) the invocations running beside it
    assert dict(pipeline_logger.get_current_keys()) == before


def test_outside_lambda_nothing_is_traced_and_botocore_is_not_patched():
    # Given the handlers imported outside Lambda (this test process)
    # Then the tracer is off, so no X-Ray daemon is ever contacted, and botocore is left as it is
    assert tracer.disabled
    assert not hasattr(botocore.client, "_xray_enabled")


@pytest.mark.slow
def test_in_lambda_importing_a_handler_patches_botocore_for_x_ray():
    # Given a fresh interpreter with Lambda's environment (tracing not disabled)
    env = {key: value for key, value in os.environ.items() if not key.startswith("POWERTOOLS_")}
    env.update({"LAMBDA_TASK_ROOT": "/var/task", "AWS_LAMBDA_FUNCTION_NAME": "batcheval-Aggregate"})
    script = (
        "import botocore.client\n"
        "from batcheval.pipeline.handlers import aggregate\n"
        "from batcheval.observability import tracer\n"
        "print(tracer.disabled, getattr(botocore.client, '_xray_enabled', False))\n"
    )

    # When a step handler is imported (the Lambda init phase)
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True, timeout=120
    )

    # Then the tracer is on and every botocore call is an X-Ray subsegment
    assert result.stdout.split() == ["False", "True"]
