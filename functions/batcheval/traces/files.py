"""Sessions from a file of records, as `batcheval inspect` and `batcheval evaluate` read them.

FILE is JSON Lines of span documents / event records exactly as CloudWatch stores them, a JSON array
of them, or the JSON `aws logs filter-log-events` prints (`events[].message`). JSON Lines are
assembled in bounded-memory batches (`stream`); the other shapes are one JSON document anyway.

Windows shells save `aws logs filter-log-events ... > events.json` as UTF-16 (PowerShell 5) or with a
UTF-8 byte-order mark. A UTF-8 mark is skipped where the records are decoded (no copy); UTF-16/32 files
(recognised by their mark) are first transcoded to a temporary UTF-8 copy.
"""

from __future__ import annotations

import codecs
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import msgspec

from batcheval.errors import ErrorCounter
from batcheval.traces.assemble import SkipCount, assemble, session_order, skip_counts
from batcheval.traces.model import Session
from batcheval.traces.records import iter_file_items, record_kind, without_bom
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
                value = msgspec.json.decode(without_bom(line))
            except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
                continue
            if isinstance(value, dict) and (
                record_kind(value) is not None or isinstance(value.get("message"), str)
            ):
                return True
    return False


_WIDE_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@contextmanager
def utf8_source(source: Path) -> Iterator[Path]:
    """The file itself, or a temporary UTF-8 copy when its byte-order mark says UTF-16/32.

    Raises `ValueError` naming the file when the marked encoding does not decode (CloudWatch records
    are UTF-8 JSON, so such a file could only be read as junk).
    """
    with source.open("rb") as probe:
        head = probe.read(4)
    encoding = next((name for bom, name in _WIDE_BOMS if head.startswith(bom)), None)
    if encoding is None:
        yield source
        return
    with tempfile.TemporaryDirectory(prefix="batcheval-utf8-") as tmp:
        copy = Path(tmp) / "spans.utf8"
        try:
            with (
                source.open(encoding=encoding, newline="") as text,
                copy.open("w", encoding="utf-8", newline="") as target,
            ):
                shutil.copyfileobj(text, target, 1 << 20)
        except UnicodeError as exc:
            raise ValueError(f"{source} is marked as {encoding.upper()} but does not decode: {exc}") from exc
        yield copy


def load_sessions(
    path: str | Path, *, keep_raw: bool = True, batch_bytes: int = DEFAULT_BATCH_BYTES
) -> SessionLoad:
    """All sessions of FILE. Raises `FileNotFoundError` / `IsADirectoryError` for a bad path and
    `ValueError` for a UTF-16/32 file that does not decode."""
    source = Path(path)
    if source.is_dir():
        raise IsADirectoryError(f"{source} is a directory, not a file of spans")
    with utf8_source(source) as readable:
        return _load(readable, keep_raw=keep_raw, batch_bytes=batch_bytes)


def _load(source: Path, *, keep_raw: bool, batch_bytes: int) -> SessionLoad:
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
