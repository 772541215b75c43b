"""Bounded-memory assembly of large JSON Lines sources: pre-partition by session, then assemble per batch.

Parsing every record of a large source at once would hold the whole source as Python objects. Instead
one pass reads the raw lines and, without parsing them, finds `"session.id"` and `"traceId"` with a
byte scan (GB/s, performance-limits.md §3) and appends each line to one of K spool files chosen by
crc32(session id). Lines without a session id (split-mode event records, child spans without the
attribute) follow their trace's session, learnt during the pass; lines whose trace never shows a
session id go to a last spool so they are still counted. Each spool is then assembled alone, so memory
holds one batch of sessions at a time. At most `MAX_SPOOLS` files are open at once: beyond that many
batches a spool still over twice the batch size is partitioned again, up to `MAX_LEVELS` deep.

Assumes one session per trace (true of every instrumentation: `session.id` is request baggage).
"""

from __future__ import annotations

import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from batcheval.traces.assemble import Assembly, assemble

DEFAULT_BATCH_BYTES = 16 * 1024 * 1024
MAX_SPOOLS = 256


def scan_string_value(line: bytes, key: bytes) -> bytes | None:
    """The raw bytes of the first `"key": "value"` string in a JSON line, without parsing it."""
    at = line.find(key)
    if at < 0:
        return None
    i = at + len(key)
    n = len(line)
    while i < n and line[i] in b" \t:":
        i += 1
    if i >= n or line[i] != 0x22:  # '"'
        return None
    end = line.find(b'"', i + 1)
    while end > 0 and line[end - 1] == 0x5C:  # an escaped quote: keep looking
        end = line.find(b'"', end + 1)
    return line[i + 1 : end] if end > 0 else None


_SESSION_KEY = b'"session.id"'
_TRACE_KEY = b'"traceId"'
_TRACE_KEY_LEN = len(_TRACE_KEY)


def _session_hash(level: int) -> Callable[[bytes], int]:
    """crc32 at the first level (fast); a keyed BLAKE2 below it. A seeded crc32 would not do: CRC is
    linear, so another seed only permutes the buckets of a spool's sessions instead of splitting them."""
    if level == 0:
        return zlib.crc32
    import hashlib  # here, not at the top: only inputs over MAX_SPOOLS batches need it (~3 MB RSS)

    person = b"batcheval-%d" % level

    def keyed(session: bytes) -> int:
        return int.from_bytes(hashlib.blake2b(session, digest_size=8, person=person).digest(), "little")

    return keyed


def partition_lines(lines: Iterable[bytes], n_spools: int, spool_dir: Path, *, level: int = 0) -> list[Path]:
    """Spool lines into `n_spools` files by session (plus one for lines of no known session).

    A trace goes whole to the spool of the first session id seen on it, so only a trace's first
    line with a session id is scanned for it; every line is scanned for its traceId (inline for
    the compact `"traceId":"…"` CloudWatch writes, else through `scan_string_value`).
    """
    paths = [spool_dir / f"spool-{k:03d}.jsonl" for k in range(n_spools + 1)]
    files: list[BinaryIO] = [path.open("wb") for path in paths[:-1]]
    buffers: list[list[bytes]] = [[] for _ in range(n_spools)]  # one write call per 1,000 lines
    pending_path = spool_dir / "pending.jsonl"
    trace_spool: dict[bytes, int] = {}
    scan = scan_string_value
    session_hash = _session_hash(level)
    try:
        with pending_path.open("wb") as pending:
            for line in lines:
                if not line.endswith(b"\n"):
                    line += b"\n"
                at = line.find(_TRACE_KEY) + _TRACE_KEY_LEN  # not found: at < _TRACE_KEY_LEN
                end = line.find(b'"', at + 2) if at >= _TRACE_KEY_LEN and line[at : at + 2] == b':"' else -1
                if end > 0 and line[end - 1] != 0x5C:  # `"traceId":"…"` without an escaped quote
                    trace: bytes | None = line[at + 2 : end]
                else:
                    trace = scan(line, _TRACE_KEY)
                spool = trace_spool.get(trace) if trace is not None else None
                if spool is None:
                    session = scan(line, _SESSION_KEY)
                    if session is None:
                        pending.write(line)
                        continue
                    spool = session_hash(session) % n_spools
                    if trace is not None:
                        trace_spool[trace] = spool
                buffer = buffers[spool]
                buffer.append(line)
                if len(buffer) >= 1000:
                    files[spool].writelines(buffer)
                    buffer.clear()
        for file, buffer in zip(files, buffers, strict=True):
            file.writelines(buffer)
        with pending_path.open("rb") as pending, paths[-1].open("wb") as orphans:
            for line in pending:
                trace = scan(line, _TRACE_KEY)
                spool = trace_spool.get(trace) if trace is not None else None
                target = orphans if spool is None else files[spool]
                target.write(line)
    finally:
        for file in files:
            file.close()
        pending_path.unlink(missing_ok=True)
    return paths


def iter_jsonl_assemblies(
    path: str | Path,
    *,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    keep_raw: bool = True,
) -> Iterator[Assembly]:
    """Assemblies of a JSON Lines file, one per batch of at most about 2 x `batch_bytes` of records.

    Over `MAX_SPOOLS` x `batch_bytes` of input (4 GB by default) a spool that is still over twice the
    batch size is partitioned again, with another hash salt (up to `MAX_LEVELS` deep), so memory stays
    bounded by one batch; only a single session larger than a batch, or the records of no known
    session, are assembled whole. Sessions are in time order within a batch, not across batches;
    skip counts are per batch.
    """
    source = Path(path)
    size = source.stat().st_size
    if size <= batch_bytes:
        with source.open("rb") as file:
            yield assemble(file, keep_raw=keep_raw)
        return
    with tempfile.TemporaryDirectory(prefix="batcheval-spool-") as tmp:
        yield from _spooled(source, size, Path(tmp), batch_bytes=batch_bytes, keep_raw=keep_raw, level=0)


MAX_LEVELS = 3


def _spooled(
    source: Path, size: int, tmp: Path, *, batch_bytes: int, keep_raw: bool, level: int
) -> Iterator[Assembly]:
    spool_dir = Path(tempfile.mkdtemp(prefix=f"level{level}-", dir=tmp))
    n_spools = min(MAX_SPOOLS, max(1, -(-size // batch_bytes)))
    with source.open("rb") as file:
        spools = partition_lines(file, n_spools, spool_dir, level=level)
    for index, spool in enumerate(spools):
        spool_size = spool.stat().st_size
        splittable = index < n_spools and level + 1 < MAX_LEVELS and spool_size < size
        if splittable and spool_size > 2 * batch_bytes:
            yield from _spooled(
                spool, spool_size, tmp, batch_bytes=batch_bytes, keep_raw=keep_raw, level=level + 1
            )
        else:
            with spool.open("rb") as lines:
                assembly = assemble(lines, keep_raw=keep_raw)
            if assembly.sessions or assembly.skipped:
                yield assembly
        spool.unlink()
    spool_dir.rmdir()
