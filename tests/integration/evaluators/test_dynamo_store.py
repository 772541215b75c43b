import boto3
import pytest
from moto import mock_aws

from batcheval.errors import ConflictError, ValidationError
from batcheval.evaluators.factory import EvaluatorFactory
from batcheval.evaluators.ground_truth import SessionReferences
from batcheval.evaluators.store import DynamoEvaluatorStore, evaluator_table_definition
from tests.unit.evaluators.builders import label_judge, session, turn
from tests.unit.evaluators.definitions_fixtures import code, llm

TABLE = "batcheval-evaluators"


@pytest.fixture
def store():
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**evaluator_table_definition(TABLE))
        yield DynamoEvaluatorStore(TABLE, client, region="us-east-1", account_id="123456789012")


def test_created_definitions_round_trip_and_list(store):
    # Given two definitions created in the table
    created = store.create(llm())
    other = store.create(code())
    # When read back
    fetched = store.get(created.evaluator_id)
    # Then they equal what was created, with a minted id and the account's ARN
    assert fetched == created
    assert created.evaluator_id.startswith("tone_check-")
    assert created.evaluator_arn.startswith("arn:aws:bedrock-agentcore:us-east-1:123456789012:evaluator/")
    assert {d.evaluator_id for d in store.list()} == {created.evaluator_id, other.evaluator_id}
    assert store.get("missing-0123456789") is None


def test_create_is_conditional_on_the_id(store):
    # Given an existing id, When created again, Then ConflictError
    store.create(llm(), evaluator_id="tone_check-AAAAAAAAAA")
    with pytest.raises(ConflictError):
        store.create(llm(), evaluator_id="tone_check-AAAAAAAAAA")


def test_invalid_definitions_are_not_stored(store):
    # Given an invalid definition, When created, Then ValidationError and nothing stored
    with pytest.raises(ValidationError):
        store.create(llm(instructions="no placeholder"))
    assert store.list() == []


def test_delete(store):
    # Given a stored definition, When deleted, Then it is gone
    created = store.create(llm())
    store.delete(created.evaluator_id)
    assert store.get(created.evaluator_id) is None


def test_factory_runs_a_custom_evaluator_from_the_table(store):
    # Given a definition in the table, When the factory builds it, Then it scores with its ARN
    created = store.create(llm())
    factory = EvaluatorFactory(judge=lambda: label_judge("Good"), store=store)
    evaluator = factory.build(created.evaluator_id)
    sess = session("s", turn(1))
    (target,) = evaluator.targets(sess)
    (result,) = evaluator.evaluate(target, SessionReferences.empty("s"))
    assert result.evaluator_arn == created.evaluator_arn
    assert result.value == 1.0


def test_accounts_sharing_the_table_never_see_each_others_evaluators(store):
    # Given account A's evaluator, and account B's store on the same table
    created = store.create(llm(), evaluator_id="tone_check-AAAAAAAAAA")
    other = DynamoEvaluatorStore(TABLE, store._client, region="us-east-1", account_id="210987654321")
    # When B reads, lists, or asks the factory for A's id
    # Then nothing is found, nothing is listed, and the unknown-id hint does not leak A's id
    assert other.get(created.evaluator_id) is None
    assert other.list() == []
    with pytest.raises(ValidationError) as raised:
        EvaluatorFactory(store=other).build_all(["tone_check-AAAAAAAAAB"])
    assert "tone_check-AAAAAAAAAA" not in raised.value.message
    # And B deleting A's id leaves A's evaluator in place
    other.delete(created.evaluator_id)
    assert store.get(created.evaluator_id) == created


def test_a_damaged_item_is_skipped_by_list_but_fails_loudly_by_id(store, caplog):
    # Given a good definition and a damaged item (not valid JSON) in the account's partition
    good = store.create(llm())
    store._client.put_item(
        TableName=TABLE,
        Item={
            "owner": {"S": "123456789012"},
            "evaluatorId": {"S": "broken-AAAAAAAAAA"},
            "definition": {"S": "{"},
        },
    )
    # When listed, Then the good one is listed and the damaged one is logged, not fatal
    assert [d.evaluator_id for d in store.list()] == [good.evaluator_id]
    assert "broken-AAAAAAAAAA" in caplog.text
    # And asking for the damaged one by id is an error, never a silent miss
    with pytest.raises(ValidationError, match="broken-AAAAAAAAAA is unreadable"):
        store.get("broken-AAAAAAAAAA")
