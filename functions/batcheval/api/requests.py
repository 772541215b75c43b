"""Turning an API Gateway proxy event into a validated request model."""

from __future__ import annotations

import base64
import binascii
import types
from typing import Annotated, Any, NamedTuple, TypeVar, Union, get_args, get_origin

import msgspec
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import ValidationError as PydanticValidationError

from batcheval.api.errors import MAX_REPORTED_ISSUES, field_path, unknown_members, validation_error
from batcheval.api.models import WireModel
from batcheval.errors import ValidationError

ModelT = TypeVar("ModelT", bound=WireModel)


class Flood(NamedTuple):
    """The first unknown members of one object, and how many it has."""

    paths: list[str]
    total: int


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
        parsed = msgspec.json.decode(data)
    except (ValueError, RecursionError) as error:  # not JSON, not UTF-8, or nested too deep
        raise ValidationError("The request body is not valid JSON.", reason="CannotParse") from error
    if not isinstance(parsed, dict):
        raise ValidationError("The request body must be a JSON object.", reason="CannotParse")
    return parsed


def parse(model: type[ModelT], data: dict[str, Any]) -> ModelT:
    """Validate against the wire model; the bad fields are named in one ValidationException."""
    flood = _unknown_member_flood(model, data, ())
    if flood is not None:
        raise unknown_members(flood.paths, flood.total)
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


def _unknown_member_flood(model: type[WireModel], data: Any, at: tuple[str | int, ...]) -> Flood | None:
    """Paths of an object's unknown members when one object has more than can be reported.

    pydantic reports every unknown member (one error each, ~10 µs apiece to list), so a body of
    900,000 of them would cost seconds; this walk of the data along the model finds such an object
    first, and the answer names a few and counts the rest.
    """
    if not isinstance(data, dict):
        return None
    fields = model.model_fields
    unknown = [name for name in data if name not in fields]
    if len(unknown) > MAX_REPORTED_ISSUES:
        return Flood([field_path([*at, name]) for name in unknown[:MAX_REPORTED_ISSUES]], len(unknown))
    for name, value in data.items():
        if name in fields:
            found = _walk(fields[name].annotation, value, (*at, name))
            if found is not None:
                return found
    return None


def _walk(annotation: Any, value: Any, at: tuple[str | int, ...]) -> Flood | None:
    """Follow `value` through an annotation (optional, Annotated, list, dict) to nested models."""
    origin = get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, WireModel):
        return _unknown_member_flood(annotation, value, at)
    if origin is Annotated:
        return _walk(get_args(annotation)[0], value, at)
    if origin in (Union, types.UnionType):
        for option in get_args(annotation):
            found = _walk(option, value, at)
            if found is not None:
                return found
        return None
    if origin is list and isinstance(value, list):
        for index, item in enumerate(value):
            found = _walk(get_args(annotation)[0], item, (*at, index))
            if found is not None:
                return found
    if origin is dict and isinstance(value, dict):
        for key, item in value.items():
            found = _walk(get_args(annotation)[1], item, (*at, str(key)))
            if found is not None:
                return found
    return None
