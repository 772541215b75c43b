"""Where custom evaluator definitions live: DynamoDB in the service, a JSON/YAML file locally."""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
import yaml
from botocore.exceptions import ClientError

from batcheval.dynamodb_items import conditional_check_failed, from_attribute, to_item
from batcheval.errors import ConflictError, ValidationError
from batcheval.evaluators.definitions import CustomEvaluatorDefinition, parse_definition

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_ALNUM = string.ascii_letters + string.digits
logger = logging.getLogger(__name__)


class EvaluatorStore(Protocol):
    """Read access to custom evaluator definitions, by id."""

    def get(self, evaluator_id: str) -> CustomEvaluatorDefinition | None: ...

    def list(self) -> list[CustomEvaluatorDefinition]: ...


def new_evaluator_id(name: str) -> str:
    """A fresh custom id, `<name>-<10 alnum>` as the control plane mints them."""
    return f"{name}-{''.join(secrets.choice(_ALNUM) for _ in range(10))}"


class FileEvaluatorStore:
    """Definitions from a JSON or YAML file: a list, or `{"evaluators": [...]}`.

    Each entry is a CreateEvaluator request, optionally with `evaluatorId`; without one the id is
    derived from the name (stable across runs). Invalid entries fail the load with their index.
    """

    def __init__(
        self, path: str | Path, *, region: str = "us-east-1", account_id: str = "000000000000"
    ) -> None:
        self.path = Path(path)
        text = self.path.read_text(encoding="utf-8")
        try:
            document = (
                yaml.safe_load(text) if self.path.suffix in (".yaml", ".yml") else msgspec.json.decode(text)
            )
        except (ValueError, yaml.YAMLError) as exc:
            raise ValidationError(
                f"{self.path}: not valid {self.path.suffix.lstrip('.') or 'JSON'}: {exc}"
            ) from exc
        entries = document.get("evaluators") if isinstance(document, dict) else document
        if not isinstance(entries, list):
            raise ValidationError(f"{self.path}: expected a list of evaluator definitions")
        self._by_id: dict[str, CustomEvaluatorDefinition] = {}
        for index, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                raise ValidationError(f"{self.path}: entry {index} is not an object")
            try:
                definition = parse_definition(entry, region=region, account_id=account_id)
            except ValidationError as exc:
                raise ValidationError(
                    f"{self.path}: entry {index}: {exc.message}", fields=exc.fields
                ) from exc
            if definition.evaluator_id in self._by_id:
                raise ValidationError(f"{self.path}: duplicate evaluatorId {definition.evaluator_id}")
            self._by_id[definition.evaluator_id] = definition

    def get(self, evaluator_id: str) -> CustomEvaluatorDefinition | None:
        return self._by_id.get(evaluator_id)

    def list(self) -> list[CustomEvaluatorDefinition]:
        return list(self._by_id.values())


def evaluator_table_definition(table_name: str) -> dict[str, Any]:
    """`create_table` arguments for the evaluator table: partition `owner` (account), sort `evaluatorId`."""
    return {
        "TableName": table_name,
        "KeySchema": [
            {"AttributeName": "owner", "KeyType": "HASH"},
            {"AttributeName": "evaluatorId", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "owner", "AttributeType": "S"},
            {"AttributeName": "evaluatorId", "AttributeType": "S"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


class DynamoEvaluatorStore:
    """One account's definitions in a DynamoDB table shared by all accounts.

    Items are keyed by (`owner` = the account id, `evaluatorId`), see `evaluator_table_definition`:
    every read is a GetItem or a Query inside the owner's partition, so one tenant can neither run
    nor list (nor see in "did you mean" hints) another tenant's evaluators. Items keep the
    CreateEvaluator request as JSON, so the stored form is the wire form.
    """

    def __init__(self, table_name: str, client: DynamoDBClient, *, region: str, account_id: str) -> None:
        self.table_name = table_name
        self._client = client
        self.region = region
        self.account_id = account_id

    def create(
        self, request: Mapping[str, Any], *, evaluator_id: str | None = None
    ) -> CustomEvaluatorDefinition:
        """Validate and store a new definition; its id is minted unless given. Raises ConflictError."""
        document = dict(request)
        document["evaluatorId"] = evaluator_id or new_evaluator_id(str(request.get("evaluatorName", "")))
        definition = parse_definition(document, region=self.region, account_id=self.account_id)
        item = to_item(
            {
                "owner": self.account_id,
                "evaluatorId": definition.evaluator_id,
                "evaluatorName": definition.evaluator_name,
                "level": definition.level,
                "definition": msgspec.json.encode(definition.request).decode(),
                "createdAt": datetime.now(UTC).isoformat(),
            }
        )
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(evaluatorId)",
            )
        except ClientError as exc:
            if conditional_check_failed(exc):
                raise ConflictError(f"evaluator {definition.evaluator_id} already exists") from exc
            raise
        return definition

    def _key(self, evaluator_id: str) -> dict[str, Any]:
        return to_item({"owner": self.account_id, "evaluatorId": evaluator_id})

    def get(self, evaluator_id: str) -> CustomEvaluatorDefinition | None:
        response = self._client.get_item(
            TableName=self.table_name, Key=self._key(evaluator_id), ConsistentRead=True
        )
        item = response.get("Item")
        return None if item is None else self._parse(item)

    def list(self) -> list[CustomEvaluatorDefinition]:
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table_name,
            KeyConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues=to_item({":owner": self.account_id}),
        )
        found = []
        for page in pages:
            for item in page.get("Items", []):
                try:
                    found.append(self._parse(item))
                except ValidationError:
                    # One damaged item must not break listing (and the unknown-id hints built on
                    # it); asking for that evaluator by id still fails loudly in get().
                    logger.exception("unreadable evaluator definition item=%s", item.get("evaluatorId"))
        return found

    def delete(self, evaluator_id: str) -> None:
        self._client.delete_item(TableName=self.table_name, Key=self._key(evaluator_id))

    def _parse(self, item: Mapping[str, Any]) -> CustomEvaluatorDefinition:
        evaluator_id = from_attribute(item["evaluatorId"])
        try:
            document = msgspec.json.decode(from_attribute(item["definition"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"stored evaluator definition {evaluator_id} is unreadable") from exc
        if not isinstance(document, dict):
            raise ValidationError(f"stored evaluator definition {evaluator_id} is not an object")
        document["evaluatorId"] = evaluator_id
        return parse_definition(document, region=self.region, account_id=self.account_id)
