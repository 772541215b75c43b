"""The state machine definition file and its `${Name}` placeholders.

The file is valid JSON; placeholders appear only inside JSON strings. The CDK stack fills them
through DefinitionSubstitutions, so the list of names comes from the file itself: a name the
stack cannot fill fails the synth instead of deploying a machine with a literal `${...}`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from batcheval.local.statemachine import PLACEHOLDER
from batcheval.local.statemachine import placeholders as document_placeholders

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFINITION_FILE = REPO_ROOT / "statemachine" / "batch_evaluation.asl.json"


class DefinitionError(ValueError):
    """The definition cannot be deployed as written (unknown placeholder, invalid JSON)."""


def placeholders(definition_text: str) -> set[str]:
    """The `${Name}` placeholders used in the definition's strings."""
    try:
        document = json.loads(definition_text)
    except json.JSONDecodeError as error:
        raise DefinitionError(f"the state machine definition is not valid JSON: {error}") from error
    return document_placeholders(document)


def substitutions_for(definition_text: str, available: Mapping[str, str]) -> dict[str, str]:
    """The DefinitionSubstitutions the definition needs, from the values the stack can provide."""
    needed = placeholders(definition_text)
    unknown = sorted(needed - set(available))
    if unknown:
        raise DefinitionError(
            f"the state machine definition uses placeholders the stack does not fill: {', '.join(unknown)}"
            f" (known: {', '.join(sorted(available))})"
        )
    return {name: available[name] for name in sorted(needed)}


def fill(definition_text: str, values: Mapping[str, str]) -> str:
    """The definition with each placeholder replaced (what Step Functions does with substitutions)."""
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], definition_text)
