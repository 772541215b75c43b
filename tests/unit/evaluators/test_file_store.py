import json

import pytest
import yaml

from batcheval.errors import ValidationError
from batcheval.evaluators.store import FileEvaluatorStore, new_evaluator_id
from tests.unit.evaluators.definitions_fixtures import code, derived, llm


def test_json_list_and_yaml_mapping_load_the_same_definitions(tmp_path):
    # Given the same definitions as a JSON list and as YAML under "evaluators"
    docs = [llm(), code(), derived()]
    (tmp_path / "e.json").write_text(json.dumps(docs))
    (tmp_path / "e.yaml").write_text(yaml.safe_dump({"evaluators": docs}))
    # When both are loaded
    from_json = FileEvaluatorStore(tmp_path / "e.json")
    from_yaml = FileEvaluatorStore(tmp_path / "e.yaml")
    # Then they hold the same ids, stable across loads
    assert [d.evaluator_id for d in from_json.list()] == [d.evaluator_id for d in from_yaml.list()]
    first = from_json.list()[0]
    assert from_json.get(first.evaluator_id) == first
    assert from_json.get("nope-0123456789") is None


def test_a_bad_entry_fails_the_load_naming_its_index(tmp_path):
    # Given an invalid second entry, When loaded, Then the error names entry 1
    (tmp_path / "e.json").write_text(json.dumps([llm(), llm(instructions="no placeholders")]))
    with pytest.raises(ValidationError, match="entry 1"):
        FileEvaluatorStore(tmp_path / "e.json")


def test_duplicate_ids_and_bad_syntax_are_rejected(tmp_path):
    # Given duplicate ids or broken JSON, When loaded, Then ValidationError
    (tmp_path / "dup.json").write_text(json.dumps([llm(), llm()]))
    with pytest.raises(ValidationError, match="duplicate"):
        FileEvaluatorStore(tmp_path / "dup.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValidationError, match="not valid"):
        FileEvaluatorStore(tmp_path / "bad.json")


def test_new_ids_follow_the_custom_pattern():
    # Given a name, When an id is minted, Then it is <name>-<10 alnum>
    evaluator_id = new_evaluator_id("tone_check")
    assert evaluator_id.startswith("tone_check-")
    assert len(evaluator_id.rsplit("-", 1)[1]) == 10
