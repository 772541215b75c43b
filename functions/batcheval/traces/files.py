"""Sessions from a file of records, as `batcheval inspect` and `batcheval evaluate` read them.

FILE is JSON Lines of span documents / event records exactly as CloudWatch stores them, a JSON array
of them, or the JSON `aws logs filter-log-events` prints (`events[].message`). JSON Lines are
assembled in bounded-memory batches (`stream`); the other shapes are one JSON document anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from batcheval.errors import ErrorCounter
from batcheval.traces.assemble import SkipCount, assemble, session_order, skip_counts
from batcheval.traces.model import Session
from batcheval.traces.records import iter_file_items, record_kind
from batcheval.traces.stream import DEFAULT_BATCH_BYTES, iter_jsonl_assemblies


@dataclass
class SessionLoad:
    """Sessions in time order (first activity, then sessionId) and the records skipped, by reason."""

    sessions: list[Session]
    skipped: list[SkipCount]


def is_json_lines(path: Path, *, probe_lines: int = 5) -> bool:
    """True when one of the first lines alone is a complete span document or event record
    (a damaged first line does not stop a JSON Lines file from being streamed)."""
    with path.open("rb") as file:
        for _, line in zip(range(probe_lines), file, strict=False):
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(value, dict) and (
                record_kind(value) is not None or isinstance(value.get("message"), str)
            ):
                return True
    return False


def load_sessions(
    path: str | Path, *, keep_raw: bool = True, batch_bytes: int = DEFAULT_BATCH_BYTES
) -> SessionLoad:
    """All sessions of FILE. Raises `FileNotFoundError` / `IsADirectoryError` for a bad path."""
    source = Path(path)
    if source.is_dir():
        raise IsADirectoryError(f"{source} is a directory, not a file of spans")
    if is_json_lines(source):
        sessions: list[Session] = []
        counter = ErrorCounter()
        for assembly in iter_jsonl_assemblies(source, batch_bytes=batch_bytes, keep_raw=keep_raw):
            sessions.extend(assembly.sessions)
            for skip in assembly.skipped:
                counter.add(skip.reason, skip.count)
        sessions.sort(key=session_order)
        return SessionLoad(sessions, skip_counts(counter))
    whole = assemble(iter_file_items(source.read_bytes()), keep_raw=keep_raw)
    return SessionLoad(whole.sessions, whole.skipped)
