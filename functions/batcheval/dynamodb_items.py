"""DynamoDB attribute values <-> Python values, through boto3's TypeSerializer and TypeDeserializer.

The one place the stores marshal items (they keep the injected low-level client, for conditional,
ADD and transactional writes). What boto3 does not decide for us is decided here, once:

- floats: the serializer refuses them; they are stored with six decimals (microseconds for the
  timestamps), the wire format the judge bucket, queue and lease items have always had;
- None: an attribute left out of the item (no item ever stored NULL);
- reads: numbers come back as `Decimal` (callers convert with `int()` / `float()`), binary as
  `bytes` (not boto3's `Binary` wrapper).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def _storable(value: object) -> object:
    if isinstance(value, float):
        return Decimal(f"{value:.6f}")
    if isinstance(value, Mapping):
        return {key: _storable(member) for key, member in value.items()}
    return value


def to_attribute(value: object) -> AttributeValueTypeDef:
    """One Python value as a low-level attribute value (`"x"` -> `{"S": "x"}`, `3` -> `{"N": "3"}`)."""
    return _SERIALIZER.serialize(_storable(value))


def to_item(values: Mapping[str, object]) -> dict[str, AttributeValueTypeDef]:
    """A low-level item (or key, or expression values) from Python values; None values are left out."""
    return {name: to_attribute(value) for name, value in values.items() if value is not None}


def from_attribute(value: Mapping[str, Any]) -> Any:
    """One low-level attribute value as Python (numbers as Decimal, binary as bytes)."""
    if "B" in value:
        return value["B"]
    return _DESERIALIZER.deserialize(cast(Any, value))


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A low-level item as a dict of Python values (see `from_attribute`)."""
    return {name: from_attribute(value) for name, value in item.items()}


def conditional_check_failed(error: ClientError) -> bool:
    """The write's ConditionExpression did not hold (the one refusal the stores expect)."""
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
