"""The embedded emulator's transaction rollback journal must cancel exactly as stock moto does."""

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from batcheval.local.moto_tuning import tuned_moto

TABLE = "t"


@pytest.fixture
def ddb():
    with mock_aws(), tuned_moto(("dynamodb", "s3")):
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
        )
        client.put_item(TableName=TABLE, Item={"pk": {"S": "p"}, "sk": {"S": "a"}, "n": {"N": "1"}})
        yield client


def _items(client):
    return sorted(
        (item["sk"]["S"], item.get("n", {}).get("N")) for item in client.scan(TableName=TABLE)["Items"]
    )


def _put(sk):
    return {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "p"}, "sk": {"S": sk}}}}


def _update_a(condition_value):
    return {
        "Update": {
            "TableName": TABLE,
            "Key": {"pk": {"S": "p"}, "sk": {"S": "a"}},
            "UpdateExpression": "ADD n :one",
            "ConditionExpression": "n = :expected",
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":expected": {"N": condition_value}},
        }
    }


def test_a_cancelled_transaction_leaves_every_item_as_it_was(ddb):
    # Given item a (n=1)
    # When a transaction puts b, deletes nothing, updates a, and then fails a condition check
    failing_check = {
        "ConditionCheck": {
            "TableName": TABLE,
            "Key": {"pk": {"S": "p"}, "sk": {"S": "missing"}},
            "ConditionExpression": "attribute_exists(pk)",
        }
    }
    with pytest.raises(ClientError) as error:
        ddb.transact_write_items(TransactItems=[_put("b"), _update_a("1"), failing_check])
    # Then it is cancelled and neither the put nor the update is visible
    assert error.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _items(ddb) == [("a", "1")]


def test_a_rejected_transaction_with_a_repeated_item_is_rolled_back(ddb):
    # When one transaction names item a twice (moto refuses it after applying the first)
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=[_update_a("1"), _update_a("2")])
    # Then the first update was undone
    assert _items(ddb) == [("a", "1")]


def test_a_successful_transaction_applies_all_writes(ddb):
    ddb.transact_write_items(
        TransactItems=[
            _put("b"),
            _update_a("1"),
            {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "p"}, "sk": {"S": "b0"}}}},
        ]
    )
    assert _items(ddb) == [("a", "2"), ("b", None)]


def test_moto_is_stock_again_afterwards():
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    stock = DynamoDBBackend.transact_write_items
    with tuned_moto(("dynamodb",)):
        # While tuned, moto keeps no reference to the items it creates
        assert DynamoDBBackend.transact_write_items is not stock
        Item(DynamoType({"S": "h"}), None, {})
        assert len(Item.instances_tracked) == 0  # type: ignore[attr-defined]
    # Then, after the block, stock behaviour is back
    assert DynamoDBBackend.transact_write_items is stock
    Item(DynamoType({"S": "h"}), None, {})
    assert len(Item.instances_tracked) == 1  # type: ignore[attr-defined]
