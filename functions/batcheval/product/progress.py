"""Progress on stderr for anything that can take more than a couple of seconds.

On a terminal: a rich progress bar (done / failed, ETA). Elsewhere (CI logs, files): one plain line
at most every `PLAIN_INTERVAL_S` seconds and one at the end, so logs show life without flooding.
stdout is never touched: it stays for the command's result.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

PLAIN_INTERVAL_S = 5.0


class ProgressSink(Protocol):
    def update(self, done: int, failed: int = 0, total: int | None = None) -> None:
        """Absolute counts so far; `total` may become known (or change) while running."""


class _PlainLines:
    def __init__(self, description: str, unit: str, total: int | None, stream: TextIO) -> None:
        self._description, self._unit, self._stream = description, unit, stream
        self._state = (0, 0, total)
        self._last_print = time.monotonic()
        self._printed: tuple[int, int, int | None] | None = None

    def update(self, done: int, failed: int = 0, total: int | None = None) -> None:
        self._state = (done, failed, total if total is not None else self._state[2])
        if time.monotonic() - self._last_print >= PLAIN_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        if self._printed == self._state:
            return
        done, failed, total = self._state
        of = f"/{total}" if total is not None else ""
        line = f"{self._description}: {done}{of} {self._unit} done, {failed} failed"
        print(line, file=self._stream, flush=True)
        self._printed = self._state
        self._last_print = time.monotonic()


class _RichBar:
    def __init__(self, bar: Progress, task: TaskID) -> None:
        self._bar, self._task = bar, task

    def update(self, done: int, failed: int = 0, total: int | None = None) -> None:
        extra: dict[str, Any] = {} if total is None else {"total": total}
        self._bar.update(self._task, completed=done, failed=failed, **extra)


@contextmanager
def progress(
    description: str, *, total: int | None = None, unit: str = "sessions", stream: TextIO | None = None
) -> Iterator[ProgressSink]:
    """A progress display for the duration of the block."""
    out = stream if stream is not None else sys.stderr
    if not out.isatty():
        plain = _PlainLines(description, unit, total, out)
        yield plain
        plain.flush()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit + ", [red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(file=out),
    ) as bar:
        task = bar.add_task(description, total=total, failed=0)
        yield _RichBar(bar, task)
