"""First come, first served turns for judge capacity: a ticket queue per model.

Without an order, capacity goes to whoever asks first after it frees up; a caller that backs off
between tries is overtaken by newcomers again and again (measured: a 266-815 s wait beside a
2.5 s median, docs/judges.md). So every call takes a ticket, and only the holder of the lowest
ticket still waiting (the head) asks for a slot and tokens; it leaves the queue once it has them,
or when it gives up, and the next ticket's turn begins.

`InProcessTicketQueue` orders the threads of one process; `DynamoDBTicketQueue`
(`batcheval.judges.queue_dynamodb`) orders every Lambda invocation sharing the table.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol


class TicketQueue(Protocol):
    """Tickets per key in the order callers arrived; one turn at a time."""

    def join(self, key: str, now: float) -> int:
        """A new ticket, after every ticket issued before."""
        ...

    def ahead(self, key: str, ticket: int, now: float) -> int:
        """How many tickets are before `ticket`; 0: its turn has come."""
        ...

    def keep(self, key: str, ticket: int, now: float) -> None:
        """The head says it is alive while it waits for capacity (see `DynamoDBTicketQueue`)."""
        ...

    def leave(self, key: str, ticket: int, now: float) -> None:
        """`ticket` is served or gives up: the queue moves past it (now, or when its turn comes)."""
        ...


@dataclass
class _Line:
    issued: int = 0
    serving: int = 1
    gone: set[int] = field(default_factory=set)


class InProcessTicketQueue:
    """Tickets for the threads of this process (threads do not vanish: no one is passed over)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lines: dict[str, _Line] = {}

    def _line(self, key: str) -> _Line:
        line = self._lines.get(key)
        if line is None:
            line = self._lines[key] = _Line()
        return line

    def join(self, key: str, now: float) -> int:
        with self._lock:
            line = self._line(key)
            line.issued += 1
            return line.issued

    def ahead(self, key: str, ticket: int, now: float) -> int:
        with self._lock:
            return max(0, ticket - self._line(key).serving)

    def keep(self, key: str, ticket: int, now: float) -> None:
        return

    def leave(self, key: str, ticket: int, now: float) -> None:
        with self._lock:
            line = self._line(key)
            if ticket != line.serving:
                line.gone.add(ticket)
                return
            line.serving += 1
            while line.serving in line.gone:
                line.gone.discard(line.serving)
                line.serving += 1
