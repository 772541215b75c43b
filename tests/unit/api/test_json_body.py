"""Request bodies the JSON decoder cannot read are a CannotParse ValidationException, never a 500."""

import base64

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from batcheval.api.requests import json_body
from batcheval.errors import ValidationError


def _event(body: bytes) -> APIGatewayProxyEvent:
    return APIGatewayProxyEvent(
        {
            "body": base64.b64encode(body).decode(),
            "isBase64Encoded": True,
            "headers": {"content-type": "application/json"},
        }
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"batchEvaluationName": "x", ',  # cut off
        b'{"batchEvaluationName": "\xff"}',  # not UTF-8 inside a string
        b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}",  # nested deeper than any decoder reads
        b'{"a": NaN}',  # not JSON
    ],
    ids=["truncated", "invalid-utf8", "too-deep", "nan"],
)
def test_unreadable_bodies_are_cannot_parse(body):
    # Given a body that is not readable JSON, When parsed, Then it is a CannotParse validation error
    with pytest.raises(ValidationError) as caught:
        json_body(_event(body))
    assert caught.value.reason == "CannotParse"
    assert caught.value.message == "The request body is not valid JSON."


def test_a_json_object_body_is_parsed_with_big_integers_kept_exact():
    # Given a body with text, nesting and an integer beyond 64 bits
    body = b'{"name": "\xc3\xa9t\xc3\xa9", "n": [1, {"big": 123456789012345678901234567890}]}'

    # When parsed, Then the object is returned as written
    assert json_body(_event(body)) == {"name": "été", "n": [1, {"big": 123456789012345678901234567890}]}
