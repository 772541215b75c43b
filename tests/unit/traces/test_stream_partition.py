"""The streamed first pass (`stream.partition_lines`): whatever the chunk size, every line lands once,
whole, in the spool of its session; lines of no known session wait, then follow their trace."""

import io
import json
import random
import zlib
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from batcheval.traces.assemble import assemble
from batcheval.traces.samples import FRAMEWORKS, generate
from batcheval.traces.stream import iter_jsonl_assemblies, line_blocks, partition_lines, scan_string_value

N_SPOOLS = 8
CHUNK_SIZES = [1, 7, 64, 1 << 20]  # 1 and 7 cut every line, 64 is shorter than most lines


def record(trace: str | None, session: str | None = None, *, spaced: bool = False, pad: int = 0) -> bytes:
    document: dict[str, object] = {} if trace is None else {"traceId": trace}
    document |= {"spanId": "s", "attributes": {} if session is None else {"session.id": session}}
    document["pad"] = "x" * pad
    return (json.dumps(document) if spaced else json.dumps(document, separators=(",", ":"))).encode()


def sessions_in_distinct_spools(count: int) -> list[str]:
    """Session ids that crc32 sends to `count` different spools, so a wrong route shows."""
    chosen: dict[int, str] = {}
    for i in range(1000):
        name = f"session-{i}"
        chosen.setdefault(zlib.crc32(name.encode()) % N_SPOOLS, name)
        if len(chosen) == count:
            return list(chosen.values())
    raise AssertionError("not enough distinct spools")


def spooled(data: bytes, tmp_path: Path, chunk_bytes: int) -> list[list[bytes]]:
    """The lines of each spool (each with its newline), the orphans' spool last."""
    spool_dir = tmp_path / f"chunk-{chunk_bytes}"
    spool_dir.mkdir()
    paths = partition_lines(io.BytesIO(data), N_SPOOLS, spool_dir, chunk_bytes=chunk_bytes)
    assert sorted(p.name for p in spool_dir.iterdir()) == sorted(p.name for p in paths)  # no pending left
    return [path.read_bytes().splitlines(keepends=True) for path in paths]


def spool_of(spools: list[list[bytes]], line: bytes) -> int:
    (index,) = [k for k, lines in enumerate(spools) if line + b"\n" in lines]
    return index


@pytest.mark.parametrize("chunk_bytes", CHUNK_SIZES)
def test_every_line_lands_once_in_its_sessions_spool_wherever_chunks_cut(tmp_path, chunk_bytes):
    # Given three sessions in three spools, their traces interleaved, and every awkward line: a line
    # longer than most chunks, CRLF endings, a blank line, a trace whose first line has no session
    # (re-routed at the end), a trace that never shows one, an escaped quote in a 32-character id, a
    # short id, a spaced one, and a last line without a newline
    alpha, beta, gamma = sessions_in_distinct_spools(3)
    t1, t2, t3 = (f"{n:032x}" for n in (1, 2, 3))
    quoted = "a" * 15 + '"' + "a" * 16
    lines = [
        record(t1, None),  # pending: t1's session comes later
        record(t1, alpha),
        record(t2, beta, pad=500),  # longer than the 64-byte chunk
        record(t1, None) + b"\r",  # CRLF: the CR stays on its line
        record(t3, gamma),
        b"",  # blank
        record(t2, None, spaced=True),
        record(quoted, gamma),
        record(quoted, None),
        record("short", alpha),
        record("short", None, spaced=True),
        record("f" * 32, None),  # its trace never shows a session: an orphan
        record(None, beta),  # no trace: routed by its session alone
        record(t3, None),  # the last line, without a newline
    ]
    data = b"\n".join(lines)
    assert not data.endswith(b"\n")

    # When partitioned, reading `chunk_bytes` at a time
    spools = spooled(data, tmp_path, chunk_bytes)

    # Then the spooled lines are the input's, each once, each ending with a newline
    assert Counter(line for spool in spools for line in spool) == Counter(line + b"\n" for line in lines)
    # and each trace, and each session, is in the spool of its session
    home = {
        alpha: spool_of(spools, lines[1]),
        beta: spool_of(spools, lines[2]),
        gamma: spool_of(spools, lines[4]),
    }
    assert len(set(home.values())) == 3
    assert {spool_of(spools, lines[i]) for i in (0, 1, 3, 9, 10)} == {home[alpha]}
    assert {spool_of(spools, lines[i]) for i in (2, 6, 12)} == {home[beta]}
    assert {spool_of(spools, lines[i]) for i in (4, 7, 8, 13)} == {home[gamma]}
    # and only the lines of no known session are in the orphans' spool
    assert spools[-1] == [b"\n", lines[11] + b"\n"]


def test_chunk_size_changes_nothing_on_generated_split_mode_records(tmp_path):
    # Given generated split-mode records: event records carry no session id, so many lines wait for
    # their trace's session and are re-routed after the pass
    data = generate(12, seed=21, frameworks=FRAMEWORKS, mode="split").jsonl()
    session_of_trace: dict[str, str] = {}
    for line in data.splitlines():
        record = msgspec.json.decode(line)
        session = record.get("attributes", {}).get("session.id")
        if session:
            session_of_trace.setdefault(record["traceId"], session)

    # When partitioned with chunks that cut most lines, and with the default chunk size
    small, large = spooled(data, tmp_path, 100), spooled(data, tmp_path, 1 << 20)

    # Then the spools are byte for byte the same, every line is in one, and each session in one spool
    assert small == large
    assert Counter(line for spool in small for line in spool) == Counter(data.splitlines(keepends=True))
    spools_of_session: dict[str, set[int]] = {}
    for index, spool in enumerate(small):
        for line in spool:
            session = session_of_trace[msgspec.json.decode(line)["traceId"]]
            spools_of_session.setdefault(session, set()).add(index)
    assert len(spools_of_session) == 12
    assert all(len(spools) == 1 and N_SPOOLS not in spools for spools in spools_of_session.values())


def test_a_trace_id_that_only_begins_like_a_known_one_goes_to_its_own_session(tmp_path):
    # Given a known 32-character trace id; ids that begin with it (a longer one, one with an escaped
    # quote after it) in another session; a line whose first traceId is spaced and whose nested
    # compact one is the known id; and a line without a traceId that has `:"<known id>"` where a
    # `"traceId"` key would end
    alpha, beta = sessions_in_distinct_spools(2)
    known = "a" * 32
    nested = b'{"traceId": "other", "links":[{"traceId":"%s"}], "s":{"session.id":"%s"}}'
    lines = [
        record(known, alpha),
        record(known + "b", beta),
        record(known + "b", None),
        record(known + '"', beta),
        record(known + '"', None),
        nested % (known.encode(), beta.encode()),
        b'{"abcde":"%s","spanId":"s"}' % known.encode(),
    ]
    assert lines[-1][8:43] == b':"%s"' % known.encode()

    # When partitioned
    spools = spooled(b"\n".join(lines) + b"\n", tmp_path, 1 << 20)

    # Then only the known trace's own line is in alpha's spool, the others are in beta's but the
    # last, which has no trace and no session: it is an orphan
    alpha_spool, beta_spool = spool_of(spools, lines[0]), spool_of(spools, lines[1])
    assert alpha_spool != beta_spool
    assert [spool_of(spools, line) for line in lines[1:-1]] == [beta_spool] * 5
    assert spools[-1] == [lines[-1] + b"\n"]


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 5, 64, 1 << 20])
def test_line_blocks_gives_the_lines_a_file_iteration_gives(chunk_bytes):
    # Given LF and CRLF lines, a blank one, one of 300 bytes, and a last line without a newline
    data = b'{"a":1}\n{"b":2}\r\n\n' + b"x" * 300 + b"\n\r\n" + b"last"

    # When cut into blocks of lines, reading `chunk_bytes` at a time
    lines = [line for block in line_blocks(io.BytesIO(data), chunk_bytes) for line in block]

    # Then they are the lines iterating the file gives, the last one with a newline added
    *whole_lines, last = io.BytesIO(data)
    assert last == b"last"
    assert lines == [*whole_lines, b"last\n"]


def test_crlf_and_blank_lines_assemble_like_plain_json_lines(tmp_path):
    # Given generated records written with CRLF endings and blank lines, over many spools
    data = generate(12, seed=5, frameworks=FRAMEWORKS, mode="split").jsonl()
    path = tmp_path / "spans.jsonl"
    path.write_bytes(data.replace(b"\n", b"\r\n\n"))

    # When assembled batch by batch
    assemblies = list(iter_jsonl_assemblies(path, batch_bytes=4096, keep_raw=False))

    # Then the sessions and skip counts are those of the plain lines assembled in one go
    whole = assemble(data.splitlines(), keep_raw=False)
    streamed = sorted((s for a in assemblies for s in a.sessions), key=lambda s: s.session_id)
    assert len(assemblies) > 3
    assert streamed == sorted(whole.sessions, key=lambda s: s.session_id)
    assert [s for a in assemblies for s in a.skipped] == whole.skipped


def reference_spools(data: bytes, n_spools: int) -> list[bytes]:
    """The contract, line by line: a trace follows the first session id seen on it; lines of no
    known session wait for the end, then follow their trace or become orphans."""
    spools: list[list[bytes]] = [[] for _ in range(n_spools + 1)]
    spool_of_trace: dict[bytes, int] = {}
    waiting: list[tuple[bytes | None, bytes]] = []
    for raw in io.BytesIO(data):
        line = raw if raw.endswith(b"\n") else raw + b"\n"
        trace = scan_string_value(line, b'"traceId"')
        spool = spool_of_trace.get(trace) if trace is not None else None
        if spool is None:
            session = scan_string_value(line, b'"session.id"')
            if session is None:
                waiting.append((trace, line))
                continue
            spool = zlib.crc32(session) % n_spools
            if trace is not None:
                spool_of_trace[trace] = spool
        spools[spool].append(line)
    for trace, line in waiting:
        spools[spool_of_trace.get(trace, n_spools) if trace is not None else n_spools].append(line)
    return [b"".join(lines) for lines in spools]


def random_line(rng: random.Random) -> bytes:
    """A record in one of three spellings, or junk: ids that only begin like others, escaped quotes,
    nested traceIds, several session ids, cut-off lines, CRs and blank lines."""
    if rng.random() < 0.1:
        return rng.choice([b"", b"\r", b"not json", b'{"traceId"', b'{"traceId":"' + b"a" * 32])
    traces = ["a" * 32, "a" * 32 + "b", "a" * 31, "a" * 15 + '"' + "a" * 16, "a" * 32 + '"', "t", ""]
    traces += [f"{n:032x}" for n in range(6)]
    sessions = ["s1", "s2", "s3", "s4", 'a"bc', '"s', ""]
    document: dict[str, object] = {}
    if rng.random() < 0.1:
        document["links"] = [{"traceId": rng.choice(traces)}]
    if rng.random() < 0.93:
        document["traceId"] = rng.choice(traces)
    if rng.random() < 0.5:
        document["attributes"] = {"session.id": rng.choice(sessions)}
    if rng.random() < 0.1:
        document["other"] = {"session.id": rng.choice(sessions), "traceId": rng.choice(traces)}
    document["pad"] = "y" * rng.randrange(200)
    separators = rng.choice([(",", ":"), (",", ":"), (", ", ": "), (",", " : ")])
    text = json.dumps(document, separators=separators).encode()
    if rng.random() < 0.05:
        text = text[: rng.randrange(len(text))]
    return text + (b"\r" if rng.random() < 0.1 else b"")


def test_partition_matches_the_line_by_line_contract_on_random_awkward_input(tmp_path):
    # Given seeded random files of awkward lines, some ending without a newline
    rng = random.Random(20)
    for case in range(60):
        data = b"\n".join(random_line(rng) for _ in range(rng.randrange(1, 60)))
        data += rng.choice([b"", b"\n"])
        n_spools = rng.choice([1, 2, 3, 8])
        chunk_bytes = rng.choice([1, 5, 17, 100, 1 << 20])

        # When partitioned a chunk at a time
        spool_dir = tmp_path / str(case)
        spool_dir.mkdir()
        paths = partition_lines(io.BytesIO(data), n_spools, spool_dir, chunk_bytes=chunk_bytes)

        # Then every spool holds exactly what the line-by-line contract puts there, in order
        assert [path.read_bytes() for path in paths] == reference_spools(data, n_spools), (case, data)
