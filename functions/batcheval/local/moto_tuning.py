"""Make moto's in-memory state grow with the data, not with the number of calls made.

Two moto behaviours make a long-running embedded emulator quadratic (measured: 600 Starts → 3.2 GB,
Start latency 75 → 296 ms):

- `TransactWriteItems` deep-copies every table it touches before running, to restore it when the
  transaction is cancelled: each transaction costs time and memory proportional to the table.
- Every model instance moto creates (each DynamoDB item version, each such copy, each S3 object
  version) is appended to a class-level `instances_tracked` list that only moto's dashboard and its
  S3 reset read, so nothing moto ever created is freed.

`tuned_moto()` replaces the table copy with a journal of the (at most 100) items the transaction
names: each one's prior version is kept and put back on cancellation. That is only safe because the
embedded emulator runs one call at a time (`emulator._OneCallAtATime`): nothing else can write
between the journal and the restore. It also stops the instance tracking while active. Both are
undone on exit, so `mock_aws` in the same process sees stock moto afterwards.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

Journal = list[tuple[Any, Any, Any, Any]]
"""(table, hash key, range key or None, the item before the transaction or None)."""


class _Untracked(list[Any]):
    """Stands in for `instances_tracked`: accepts appends and keeps nothing."""

    def append(self, _instance: Any) -> None:
        return None


def _journal(backend: Any, transact_items: list[dict[str, Any]]) -> Journal:
    """The current version of every item the transaction names (None = absent), copied."""
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.models.dynamo_type import DynamoType

    journal: Journal = []
    for entry in transact_items:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue  # moto refuses it before writing anything
        op_type, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        if table is None:
            continue
        key = op.get("Item") if op_type == "Put" else op.get("Key")
        try:
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            current = table.get_item(hash_key, range_key)
        except (KeyError, TypeError, AttributeError, MockValidationException):
            continue  # a malformed key: moto refuses that operation before it writes
        journal.append((table, hash_key, range_key, copy.deepcopy(current)))
    return journal


def _restore(journal: Journal) -> None:
    for table, hash_key, range_key, before in reversed(journal):
        if range_key is None:
            if before is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = before
        elif before is None:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items[hash_key][range_key] = before


class _CopyWithoutTables:
    """moto's dynamodb module sees this as `copy`: tables are not copied, everything else is."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, self._table_type):
            return value  # the journal restores what a cancelled transaction changed
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


@contextmanager
def tuned_moto(services: tuple[str, ...]) -> Iterator[None]:
    """Journal-based transaction rollback and no instance tracking (of `services`' models and any
    already imported), while the block runs."""
    from moto.core.model_instances import model_data

    for service in services:  # model classes register on import: import them before untracking
        importlib.import_module(f"moto.{service}.models")
    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb.models.table import Table

    backend_type = dynamodb_models.DynamoDBBackend
    stock_transact = backend_type.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        journal = _journal(self, transact_items)
        try:
            stock_transact(self, transact_items)
        except BaseException:
            _restore(journal)
            raise

    tracked: list[Any] = [cls for models in model_data.values() for cls in models.values()]
    saved_lists = {cls: cls.__dict__.get("instances_tracked") for cls in tracked}
    stock_copy = dynamodb_models.copy
    backend_type.transact_write_items = transact_write_items  # type: ignore[method-assign]
    dynamodb_models.copy = _CopyWithoutTables(Table)  # type: ignore[assignment]
    for cls in tracked:
        cls.instances_tracked = _Untracked()
    try:
        yield
    finally:
        backend_type.transact_write_items = stock_transact  # type: ignore[method-assign]
        dynamodb_models.copy = stock_copy
        for cls, saved in saved_lists.items():
            cls.instances_tracked = saved if saved is not None else []
