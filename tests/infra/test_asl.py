"""Placeholders come from the definition file; an unknown one fails before deploying."""

from __future__ import annotations

import json

import pytest
from infra.asl import DefinitionError, fill, placeholders, substitutions_for

from tests.infra.conftest import definition_file

CONTRACT = {"DiscoverFunctionArn", "ScoreBatchFunctionArn", "AggregateFunctionArn", "FinalizeFunctionArn"}


def test_placeholders_are_read_from_strings_and_keys():
    text = json.dumps({"A": "${One}", "B": ["x ${Two} y", {"${Three}": 1}], "C": 5})
    assert placeholders(text) == {"One", "Two", "Three"}


def test_unknown_placeholder_fails_naming_it():
    # Given a definition using a name the stack does not provide
    text = json.dumps({"Resource": "${DiscoverFunctionArn}", "Other": "${Mystery}"})

    # When / Then the error names it
    with pytest.raises(DefinitionError, match="Mystery"):
        substitutions_for(text, {"DiscoverFunctionArn": "arn"})


def test_only_used_names_are_substituted():
    text = json.dumps({"Resource": "${DiscoverFunctionArn}"})
    assert substitutions_for(text, {"DiscoverFunctionArn": "a", "PayloadBucketName": "b"}) == {
        "DiscoverFunctionArn": "a"
    }


def test_invalid_json_is_refused():
    with pytest.raises(DefinitionError, match="not valid JSON"):
        placeholders("{")


def test_definition_in_use_names_every_step_and_fills_completely():
    # Given the definition the stack deploys (the real file once it exists)
    text = definition_file().read_text()

    # When filling every placeholder it uses
    names = placeholders(text)
    filled = fill(text, {name: f"value-of-{name}" for name in names})

    # Then the four step functions are referenced and nothing is left unfilled
    assert names >= CONTRACT
    assert "${" not in filled
    json.loads(filled)
