"""Bounded-memory assembly of large JSON Lines sources: pre-partition by session, then assemble per batch.

Parsing every record of a large source at once would hold the whole source as Python objects. Instead
one pass reads the raw lines a chunk at a time and, without parsing them, finds `"session.id"` and
`"traceId"` with a byte scan (GB/s, performance-limits.md §3) and appends each line to one of K spool
files chosen by crc32(session id), one write per spool and chunk. Lines without a session id
(split-mode event records, child spans without the attribute) follow their trace's session, learnt
during the pass; lines whose trace never shows a session id go to a last spool so they are still
counted. Each spool is then assembled alone, so memory holds one batch of sessions at a time. At most
`MAX_SPOOLS` files are open at once: beyond that many batches a spool still over twice the batch size
is partitioned again, up to `MAX_LEVELS` deep.

Assumes one session per trace (true of every instrumentation: `session.id` is request baggage).
"""

from __future__ import annotations

import tempfile
import zlib
from collections.abc import Callable, Iterator
from io import BytesIO
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
_SESSION_KEY_LEN = len(_SESSION_KEY)
_TRACE_KEY = b'"traceId"'
_TRACE_KEY_LEN = len(_TRACE_KEY)
_ROUTE_KEY_LEN = 2 + 32 + 1  # `:"`, a W3C / X-Ray trace id (32 hex digits), `"`
CHUNK_BYTES = 1024 * 1024


def _route_key(line: bytes) -> bytes | None:
    """The line's trace id as the spooling loop looks it up: `:"`, `scan_string_value(line,
    b'"traceId"')`, `"` (as CloudWatch writes it after the key); fast for that spelling."""
    at = line.find(_TRACE_KEY) + _TRACE_KEY_LEN
    if at >= _TRACE_KEY_LEN and line[at : at + 2] == b':"':
        end = line.find(b'"', at + 2)
        if end > 0 and line[end - 1] != 0x5C:  # no escaped quote in the id
            return line[at : end + 1]
    trace = scan_string_value(line, _TRACE_KEY)
    return None if trace is None else b':"' + trace + b'"'


def _session_of(line: bytes) -> bytes | None:
    """`scan_string_value(line, b'"session.id"')`, fast for the compact spelling."""
    at = line.find(_SESSION_KEY) + _SESSION_KEY_LEN
    if at < _SESSION_KEY_LEN:
        return None
    if line[at : at + 2] == b':"':
        end = line.find(b'"', at + 2)
        if end > 0 and line[end - 1] != 0x5C:
            return line[at + 2 : end]
    return scan_string_value(line, _SESSION_KEY)


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


def line_blocks(source: BinaryIO, chunk_bytes: int = CHUNK_BYTES) -> Iterator[list[bytes]]:
    """The lines of a binary file, each with its newline, in one list per chunk read.

    `BytesIO.readlines` cuts a chunk at its newlines with memchr in one C call: half the cost of
    `bytes.split` (a byte-at-a-time loop) and far less than one Python step per line. A line cut by a
    chunk boundary is joined whole, however many chunks it spans; a last line without a newline gets
    one; a CR stays on its line (lines end at LF only, as iterating the file would give them).
    """
    read = source.read
    head: list[bytes] = []  # the pieces of a line that started in an earlier chunk
    while chunk := read(chunk_bytes):
        lines = BytesIO(chunk).readlines()  # BytesIO shares the chunk's buffer, the lines are copies
        del chunk
        tail = lines.pop() if lines[-1][-1] != 0x0A else None  # a line that goes on in the next chunk
        if head and lines:
            head.append(lines[0])
            lines[0] = b"".join(head)
            head.clear()
        if tail is not None:
            head.append(tail)
        if lines:
            yield lines
    if head:
        head.append(b"\n")
        yield [b"".join(head)]


Route = Callable[[bytes], None]


def _route(lines: list[bytes], routes: dict[bytes, Route], unknown: Route) -> None:
    """Hand each line to the route of its trace, or to `unknown` when it has none yet.

    The hot loop of the first pass: one `find`, one slice and one dict lookup a line. The 35 bytes
    after the line's first `"traceId"` are looked up as they are. A hit is exact: every key of
    `routes` is a `_route_key`, the whole id (no unescaped quote in it, no trailing backslash) between
    `:"` and its closing quote, so a window equal to one ends where the id does. Other id lengths,
    spellings and escapes, and lines without a trace, miss and go to `unknown`.
    """
    get = routes.get
    for line in lines:
        at = line.find(_TRACE_KEY) + _TRACE_KEY_LEN
        route = get(line[at : at + _ROUTE_KEY_LEN]) if at >= _TRACE_KEY_LEN else None
        (route or unknown)(line)


def _flush(buffers: list[list[bytes]], files: list[BinaryIO]) -> None:
    """One write per spool and chunk."""
    for buffer, file in zip(buffers, files, strict=True):
        if buffer:
            file.write(b"".join(buffer))
            buffer.clear()


def partition_lines(
    source: BinaryIO, n_spools: int, spool_dir: Path, *, level: int = 0, chunk_bytes: int = CHUNK_BYTES
) -> list[Path]:
    """Spool the lines of a binary file into `n_spools` files by session (plus a last one for the
    lines of no known session); every spooled line ends with a newline.

    A trace goes whole to the spool of the first session id seen on it, so only a trace's first
    line with a session id is scanned for it. A line with neither a known trace nor a session id
    waits in a pending file until the end of the pass, then follows its trace if the trace got a
    session, else goes to the last spool. Memory: a few chunks of `chunk_bytes` plus the trace →
    spool dict (a line longer than a chunk is held whole, as it must be to find its ids).
    """
    paths = [spool_dir / f"spool-{k:03d}.jsonl" for k in range(n_spools + 1)]
    pending_path = spool_dir / "pending.jsonl"
    buffers: list[list[bytes]] = [[] for _ in range(n_spools + 1)]  # the last: pending, then orphans
    appends: list[Route] = [buffer.append for buffer in buffers]
    routes: dict[bytes, Route] = {}  # _route_key → the append of its spool's buffer
    session_hash = _session_hash(level)
    wait = appends[-1]

    def first_seen(line: bytes) -> None:
        key = _route_key(line)
        route = routes.get(key) if key is not None else None
        if route is None:
            session = _session_of(line)
            if session is None:
                wait(line)
                return
            route = appends[session_hash(session) % n_spools]
            if key is not None:
                routes[key] = route
        route(line)

    def after_the_pass(line: bytes) -> None:
        key = _route_key(line)
        route = routes.get(key) if key is not None else None
        (route or wait)(line)

    spools: list[BinaryIO] = []
    try:
        for path in paths[:-1]:
            spools.append(path.open("wb"))
        with pending_path.open("wb") as pending:
            for lines in line_blocks(source, chunk_bytes):
                _route(lines, routes, first_seen)
                _flush(buffers, [*spools, pending])
        with pending_path.open("rb") as waited, paths[-1].open("wb") as orphans:
            for lines in line_blocks(waited, chunk_bytes):
                _route(lines, routes, after_the_pass)
                _flush(buffers, [*spools, orphans])
    finally:
        for spool in spools:
            spool.close()
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
