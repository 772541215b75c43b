"""The five operations and the RetryFailed extension: (proxy event, JobService) → parse → service → wire.

Handler modules only bind these to their route, so each operation can be deployed as its own
Lambda function with its own least-privilege role.
"""

from __future__ import annotations

import msgspec
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from batcheval.api import responses
from batcheval.api.errors import with_issues
from batcheval.api.models import (
    DeleteBatchEvaluationRequest,
    GetBatchEvaluationRequest,
    ListBatchEvaluationsRequest,
    StartBatchEvaluationRequest,
    StopBatchEvaluationRequest,
    WireModel,
)
from batcheval.api.requests import json_body, parse, path_parameter, query_parameter
from batcheval.api.routes import DELETE, GET, LIST, RETRY_FAILED, START, STOP
from batcheval.api.tenancy import owner_from_event
from batcheval.errors import ValidationError
from batcheval.jobs.service import JobService, request_issues

PATH_ID = "batchEvaluationId"
JobIdRequest = GetBatchEvaluationRequest | StopBatchEvaluationRequest | DeleteBatchEvaluationRequest


def wire_response(model: WireModel, status: int) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=msgspec.json.encode(model.to_wire()).decode(),
    )


def start(event: APIGatewayProxyEvent, service: JobService) -> Response[str]:
    owner = owner_from_event(event.raw_event)
    body = json_body(event)
    try:
        request = parse(StartBatchEvaluationRequest, body)
    except ValidationError as error:
        raise with_issues(error, request_issues(body)) from error
    result = service.start(owner, request.to_wire())
    return wire_response(responses.start_response(result.job), START.success_status)


def _owner_and_job(event: APIGatewayProxyEvent, model: type[JobIdRequest]) -> tuple[str, str]:
    owner = owner_from_event(event.raw_event)
    return owner, parse(model, {PATH_ID: path_parameter(event, PATH_ID)}).batchEvaluationId


def get(event: APIGatewayProxyEvent, service: JobService) -> Response[str]:
    view = service.get(*_owner_and_job(event, GetBatchEvaluationRequest))
    return wire_response(responses.get_response(view), GET.success_status)


def list_jobs(event: APIGatewayProxyEvent, service: JobService) -> Response[str]:
    owner = owner_from_event(event.raw_event)
    query = {
        name: value
        for name in ("maxResults", "nextToken")
        if (value := query_parameter(event, name)) is not None
    }
    request = parse(ListBatchEvaluationsRequest, query)
    page = service.list_jobs(owner, max_results=request.maxResults, next_token=request.nextToken)
    return wire_response(responses.list_response(page), LIST.success_status)


def stop(event: APIGatewayProxyEvent, service: JobService) -> Response[str]:
    job = service.stop(*_owner_and_job(event, StopBatchEvaluationRequest))
    return wire_response(responses.stop_response(job), STOP.success_status)


def delete(event: APIGatewayProxyEvent, service: JobService) -> Response[str]:
    job = service.delete(*_owner_and_job(event, DeleteBatchEvaluationRequest))
    return wire_response(responses.delete_response(job), DELETE.success_status)


def retry_failed(event: APIGatewayProxyEvent, service: JobService) -> Response[str]:
    """The RetryFailedBatchEvaluation extension: answers like Stop (id, ARN, new status)."""
    job = service.retry_failed(*_owner_and_job(event, StopBatchEvaluationRequest))
    return wire_response(responses.stop_response(job), RETRY_FAILED.success_status)
