"""The rewrite that lets moto run the definition changes only what moto cannot parse."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from batcheval.local.statemachine import distributed_map, load_definition
from tests.e2e.moto_sfn import motoize


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return load_definition()


def _without_map_constructs(definition: dict[str, Any]) -> dict[str, Any]:
    stripped = copy.deepcopy(definition)
    _, state = distributed_map(stripped)
    for key in ("ItemBatcher", "ItemSelector", "ToleratedFailurePercentage"):
        state.pop(key, None)
    state["ItemReader"]["ReaderConfig"].pop("InputType")
    return stripped


def test_item_batcher_becomes_an_item_selector_with_the_same_child_input_shape(
    definition: dict[str, Any],
) -> None:
    # Given the real Map with its ItemBatcher
    _, original = distributed_map(definition)
    # When rewritten
    _, state = distributed_map(motoize(definition))
    # Then the child still gets {"Items": [...], "BatchInput": <the same BatchInput>}
    assert "ItemBatcher" not in state
    assert state["ItemSelector"] == {
        "Items.$": "States.Array($$.Map.Item.Value)",
        "BatchInput": original["ItemBatcher"]["BatchInput"],
    }


def test_jsonl_reader_and_integer_tolerance_are_rewritten(definition: dict[str, Any]) -> None:
    _, original = distributed_map(definition)
    _, state = distributed_map(motoize(definition))
    assert state["ItemReader"]["ReaderConfig"]["InputType"] == "JSON"
    assert state["ToleratedFailurePercentage"] == float(original["ToleratedFailurePercentage"])
    assert isinstance(state["ToleratedFailurePercentage"], float)


def test_nothing_else_changes_and_the_original_is_untouched(definition: dict[str, Any]) -> None:
    # Given the original and a copy taken before the rewrite
    before = copy.deepcopy(definition)
    # When the rewrite runs, and the rewritten constructs are removed from both sides
    rewritten = _without_map_constructs(motoize(definition))
    original = _without_map_constructs(definition)
    # Then everything else is equal, and the input definition is untouched
    assert rewritten == original
    assert definition == before


def test_a_map_with_its_own_item_selector_is_refused() -> None:
    definition = load_definition()
    _, state = distributed_map(definition)
    state["ItemSelector"] = {"x.$": "$"}
    with pytest.raises(ValueError, match="ItemSelector"):
        motoize(definition)
