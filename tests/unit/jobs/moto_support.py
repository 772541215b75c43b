"""moto's DynamoDB is not isolated: a cancelled transaction restores a deep copy of the whole table,
wiping writes other threads made meanwhile. DynamoDB's transactions are serializable, so tests that
race threads serialize moto's DynamoDB writes with one lock to emulate that isolation.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from moto.dynamodb.models import DynamoDBBackend

_WRITES = ("transact_write_items", "put_item", "update_item", "delete_item")


@contextmanager
def serializable_dynamodb(
    monkeypatch: pytest.MonkeyPatch, calls: tuple[str, ...] = _WRITES
) -> Iterator[None]:
    """One lock around moto's DynamoDB `calls` (the writes by default; add reads where a read may
    iterate a table another thread changes)."""
    lock = threading.RLock()

    def locked(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return wrapper

    for name in calls:
        monkeypatch.setattr(DynamoDBBackend, name, locked(getattr(DynamoDBBackend, name)))
    yield
