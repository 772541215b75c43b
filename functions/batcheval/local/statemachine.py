"""The state machine definition as data: where it is, its placeholders, and its Distributed Map settings.

`statemachine/batch_evaluation.asl.json` is the one source of truth for how a job is orchestrated:
CDK deploys it (filling its `${Name}` placeholders), the e2e tests execute it on moto, and the local
orchestrator reads its batching, concurrency, tolerance and retry settings from it, so the local
runtime batches and tolerates exactly as the deployed machine does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from batcheval.errors import ValidationError

ENV_DEFINITION_PATH = "BATCHEVAL_STATE_MACHINE_DEFINITION"
DEFINITION_PATH = Path(__file__).resolve().parents[3] / "statemachine" / "batch_evaluation.asl.json"
"""The repository's definition (the package is installed editable from the repository)."""

PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_]*)\}")
"""A `${Name}` placeholder; infra (the CDK app) reads the file's placeholders with this module too."""
KNOWN_PLACEHOLDERS = frozenset(
    {
        "DiscoverFunctionArn",
        "ScoreBatchFunctionArn",
        "AggregateFunctionArn",
        "FinalizeFunctionArn",
        "PayloadBucketName",
    }
)
"""What CDK's DefinitionSubstitutions fill (the brief's contract; infra fails on any other name)."""


def definition_path() -> Path:
    override = os.environ.get(ENV_DEFINITION_PATH)
    return Path(override) if override else DEFINITION_PATH


def load_definition(path: Path | None = None) -> dict[str, Any]:
    """The definition as JSON (placeholders still in it)."""
    source = path or definition_path()
    try:
        definition: dict[str, Any] = msgspec.json.decode(source.read_bytes())
    except FileNotFoundError as exc:
        raise ValidationError(
            f"state machine definition not found at {source} (set {ENV_DEFINITION_PATH})"
        ) from exc
    return definition


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def placeholders(definition: Mapping[str, Any]) -> set[str]:
    """Every `${Name}` in the definition's strings (keys included)."""
    return {name for text in _strings(definition) for name in PLACEHOLDER.findall(text)}


def substitute(definition: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """The definition with its placeholders filled, as CloudFormation's DefinitionSubstitutions do.

    Raises ValidationError when a placeholder has no value (a deployment would keep it literally).
    """
    missing = placeholders(definition) - set(values)
    if missing:
        raise ValidationError(f"no value for placeholder(s) {', '.join(sorted(missing))}")
    text = msgspec.json.encode(definition).decode()
    filled = PLACEHOLDER.sub(lambda m: msgspec.json.encode(values[m.group(1)]).decode()[1:-1], text)
    result: dict[str, Any] = msgspec.json.decode(filled)
    return result


def iter_states(states: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, state) of every state, nested Map and Parallel states included."""
    for name, state in states.items():
        yield name, state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from iter_states(processor["States"])
        for branch in state.get("Branches", []):
            yield from iter_states(branch["States"])


def distributed_map(definition: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The definition's one Distributed Map state."""
    found = [
        (name, state)
        for name, state in iter_states(definition["States"])
        if state.get("Type") == "Map"
        and (state.get("ItemProcessor") or {}).get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
    ]
    if len(found) != 1:
        raise ValidationError(f"expected one Distributed Map state, found {len(found)}")
    return found[0]


@dataclass(frozen=True)
class MapSettings:
    """How the Distributed Map batches and tolerates: what the local orchestrator must do the same way."""

    max_items_per_batch: int
    max_input_bytes_per_batch: int | None
    max_concurrency: int
    tolerated_failure_percentage: float
    task_failed_retries: int
    """Extra attempts of a batch whose ScoreBatch call failed (its `States.TaskFailed` retrier)."""


def map_settings(definition: Mapping[str, Any]) -> MapSettings:
    _, state = distributed_map(definition)
    batcher = state.get("ItemBatcher") or {}
    retries = 0
    for _, inner in iter_states(state["ItemProcessor"]["States"]):
        if inner.get("Type") != "Task":
            continue
        for retrier in inner.get("Retry", []):
            if "States.TaskFailed" in retrier["ErrorEquals"] or "States.ALL" in retrier["ErrorEquals"]:
                retries = max(retries, int(retrier.get("MaxAttempts", 3)))
    return MapSettings(
        max_items_per_batch=int(batcher.get("MaxItemsPerBatch", 1)),
        max_input_bytes_per_batch=batcher.get("MaxInputBytesPerBatch"),
        max_concurrency=int(state.get("MaxConcurrency", 0)),
        tolerated_failure_percentage=float(state.get("ToleratedFailurePercentage", 0)),
        task_failed_retries=retries,
    )
