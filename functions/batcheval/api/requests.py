"""Turning an API Gateway proxy event into a validated request model."""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeVar

import orjson
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import ValidationError as PydanticValidationError

from batcheval.api.errors import validation_error
from batcheval.api.models import WireModel
from batcheval.errors import ValidationError

ModelT = TypeVar("ModelT", bound=WireModel)
JSON_CONTENT_TYPES = frozenset(
    {"application/json", "application/x-amz-json-1.0", "application/x-amz-json-1.1"}
)


def json_body(event: APIGatewayProxyEvent) -> dict[str, Any]:
    """The body as a JSON object; an empty body is `{}`. Wrong type or bad JSON → CannotParse."""
    raw = event.get("body")
    if raw is None or raw == "":
        return {}
    try:
        data = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw.encode()
    except (binascii.Error, ValueError) as error:
        raise ValidationError("The request body is not valid base64.", reason="CannotParse") from error
    content_type = event.headers.get("content-type") or ""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in JSON_CONTENT_TYPES:
        raise ValidationError(
            f"Unsupported Content-Type {content_type or '(none)'!r}; send application/json.",
            reason="CannotParse",
        )
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise ValidationError("The request body is not valid JSON.", reason="CannotParse") from error
    if not isinstance(parsed, dict):
        raise ValidationError("The request body must be a JSON object.", reason="CannotParse")
    return parsed


def parse(model: type[ModelT], data: dict[str, Any]) -> ModelT:
    """Validate against the wire model; every bad field is named in one ValidationException."""
    try:
        return model.model_validate(data)
    except PydanticValidationError as error:
        raise validation_error(error) from error


def path_parameter(event: APIGatewayProxyEvent, name: str) -> str | None:
    parameters = event.path_parameters or {}
    return parameters.get(name)


def query_parameter(event: APIGatewayProxyEvent, name: str) -> str | None:
    parameters = event.query_string_parameters or {}
    return parameters.get(name)
