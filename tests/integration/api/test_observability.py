"""The API handlers' logs in Lambda: a domain logger's extra= fields are keys of the Powertools JSON line."""

from __future__ import annotations

import pytest

from batcheval.observability import api_logger
from tests.integration.api.conftest import Api, Stack, api_event, invoke, start_body
from tests.integration.api.test_start_failures import _bulky_source, _fail
from tests.integration.lambda_logs import json_lines, lambda_json_logs


def test_in_lambda_a_domain_loggers_extra_fields_are_keys_of_the_json_line(
    api: Api, stack: Stack, monkeypatch: pytest.MonkeyPatch
):
    # Given a job whose data source is in S3, and its KMS key disabled
    started = api.start(start_body(dataSourceConfig=_bulky_source()))
    job_id = started.body["batchEvaluationId"]
    _fail(stack, "s3", "GetObject", "KMS.DisabledException")
    event = api_event("get", job_id=job_id, account=api.account, content_type=None)

    # When GetBatchEvaluation runs in Lambda (batcheval.jobs.service warns with extra={"batchEvaluationId"})
    with lambda_json_logs(api_logger, monkeypatch) as stream:
        assert invoke("get", event).status == 200

    # Then that stdlib logger's line is Powertools JSON with the extra field as a key
    (line,) = json_lines(stream, "data source unreadable")
    assert line["name"] == "batcheval.jobs.service"
    assert line["level"] == "WARNING"
    assert line["batchEvaluationId"] == job_id
    # and the API request's id as correlation id
    assert line["correlation_id"] == event["requestContext"]["requestId"]
    assert line["service"] == "batcheval-api"
