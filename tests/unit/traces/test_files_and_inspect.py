import codecs
import io
import json
from pathlib import Path

import msgspec
import pytest

from batcheval.cli import main
from batcheval.traces.assemble import assemble
from batcheval.traces.files import load_sessions
from batcheval.traces.records import SKIP_UNPARSABLE
from batcheval.traces.samples import FRAMEWORKS, generate
from batcheval.traces.stream import iter_jsonl_assemblies, partition_lines, scan_string_value

FIXTURES = Path(__file__).parents[2] / "fixtures" / "spans"


@pytest.fixture
def sample():
    return generate(12, seed=21, frameworks=FRAMEWORKS, mode="split", tool_error_rate=0.4)


def test_streaming_batches_give_the_same_sessions_as_the_simple_path(tmp_path, sample):
    # Given a JSONL file large enough to be split into many spool batches
    path = tmp_path / "spans.jsonl"
    path.write_bytes(b"not json\n" + sample.jsonl())

    # When it is read in small batches and in one go
    batches = list(iter_jsonl_assemblies(path, batch_bytes=4096))
    loaded = load_sessions(path, batch_bytes=4096)
    simple = assemble(sample.records)

    # Then the batches really were several, and the sessions are the same
    assert len(batches) > 3
    assert loaded.sessions == simple.sessions
    assert [s.spans for s in loaded.sessions] == [s.spans for s in simple.sessions]
    assert [(s.reason, s.count) for s in loaded.skipped] == [(SKIP_UNPARSABLE, 1)]


def test_byte_scan_reads_string_values_with_or_without_spaces():
    assert scan_string_value(b'{"session.id": "a-1", "x": 1}', b'"session.id"') == b"a-1"
    assert scan_string_value(b'{"session.id":"b\\"c"}', b'"session.id"') == b'b\\"c'
    assert scan_string_value(b'{"session.id": 5}', b'"session.id"') is None
    assert scan_string_value(b"{}", b'"session.id"') is None


def test_partition_keeps_each_trace_with_its_session_whatever_the_spelling(tmp_path):
    # Given lines of two sessions over many spools: a trace's first line without session.id, a
    # spaced traceId, an escaped quote in a trace id, and a line whose trace never shows a session
    def line(trace: str, session: str | None, spaced: bool = False) -> bytes:
        attributes = {"session.id": session} if session else {}
        text = json.dumps({"traceId": trace, "spanId": "s", "attributes": attributes})
        return (text if spaced else text.replace(": ", ":").replace(", ", ",")).encode()

    lines = [
        line("t1", None),  # before its trace's session is known: resolved at the end
        line("t1", "alpha"),
        line("t1", None, spaced=True),
        line('t"2', "beta"),
        line('t"2', None),
        line("t3", "beta", spaced=True),
        line("t9", None),
    ]

    # When partitioned into 16 spools
    paths = partition_lines(io.BytesIO(b"\n".join(lines)), 16, tmp_path)
    spool_of = {raw: index for index, path in enumerate(paths) for raw in path.read_bytes().splitlines()}

    # Then every line is spooled once; each trace, and each session, shares one spool
    assert sorted(spool_of) == sorted(lines)
    assert spool_of[lines[0]] == spool_of[lines[1]] == spool_of[lines[2]]
    assert spool_of[lines[3]] == spool_of[lines[4]] == spool_of[lines[5]]
    assert spool_of[lines[0]] != len(paths) - 1
    assert spool_of[lines[6]] == len(paths) - 1  # the orphans' spool


def test_filter_log_events_output_and_json_arrays_load_like_json_lines(tmp_path, sample):
    # Given the same records as `aws logs filter-log-events` prints them, and as a JSON array
    events = [
        {"logStreamName": "spans", "timestamp": 1, "message": msgspec.json.encode(r).decode()}
        for r in sample.records
    ]
    printed = tmp_path / "events.json"
    printed.write_text(json.dumps({"events": events, "searchedLogStreams": []}, indent=4))
    array = tmp_path / "array.json"
    array.write_bytes(msgspec.json.encode(sample.records))

    # When loaded, Then both give the sessions of the raw records
    expected = assemble(sample.records).sessions
    assert load_sessions(printed).sessions == expected
    assert load_sessions(array).sessions == expected


def test_inspect_json_has_the_documented_shape(tmp_path, capsys, sample):
    # Given a spans file
    path = tmp_path / "spans.jsonl"
    path.write_bytes(sample.jsonl())

    # When inspected as JSON
    assert main(["inspect", "--spans", str(path), "--format", "json"]) == 0
    output = json.loads(capsys.readouterr().out)

    # Then sessions and turns are in time order with exactly the documented keys
    assert set(output) == {"sessions", "skipped"}
    assert len(output["sessions"]) == 12
    session = output["sessions"][0]
    assert set(session) == {"sessionId", "serviceName", "turns", "errors"}
    turn = session["turns"][0]
    assert set(turn) == {"traceId", "userInput", "agentResponse", "toolCalls", "modelCalls"}
    assert all(set(m) == {"model", "inputTokens", "outputTokens"} for m in turn["modelCalls"])
    calls = [c for s in output["sessions"] for t in s["turns"] for c in t["toolCalls"]]
    assert all(set(c) == {"name", "toolCallId", "arguments", "result", "status", "error"} for c in calls)
    assert {c["status"] for c in calls} == {"success", "error"}
    assert all((c["error"] is not None) == (c["status"] == "error") for c in calls)
    loaded = load_sessions(path).sessions
    assert [s["sessionId"] for s in output["sessions"]] == [s.session_id for s in loaded]


def test_inspect_shows_a_failed_calls_response_id_and_error_on_the_latest_conventions(capsys):
    # Given Strands spans recorded with OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental,
    # where the failed call's response is a `tool_call_response` part
    path = FIXTURES / "strands" / "latest_semconv.jsonl"

    # When inspected as JSON and as a table
    assert main(["inspect", "--spans", str(path), "--format", "json"]) == 0
    output = json.loads(capsys.readouterr().out)
    assert main(["inspect", "--spans", str(path)]) == 0
    table = capsys.readouterr().out

    # Then the failed call carries its response, its tool-call id and its error
    failed = [
        c for s in output["sessions"] for t in s["turns"] for c in t["toolCalls"] if c["status"] == "error"
    ]
    assert failed == [
        {
            "name": "get_weather",
            "toolCallId": "tooluse_porto1",
            "arguments": '{"city": "Porto"}',
            "result": "Error: RuntimeError - weather service timed out",
            "status": "error",
            "error": "weather service timed out",
        }
    ]
    # and the table shows the error on the line under the call
    lines = table.splitlines()
    call = next(i for i, line in enumerate(lines) if "get_weather" in line and " error " in line)
    assert "→ Error: RuntimeError - weather service t" in lines[call]
    assert lines[call + 1].split() == ["error:", "weather", "service", "timed", "out"]


def test_inspect_table_explains_errors_and_skips(tmp_path, capsys):
    # Given a file with an unknown-scope session and a bad line
    span = {
        "traceId": "a" * 32,
        "spanId": "b" * 16,
        "scope": {"name": "my.tracer"},
        "startTimeUnixNano": 1,
        "attributes": {"session.id": "s-unknown"},
    }
    path = tmp_path / "spans.jsonl"
    path.write_bytes(msgspec.json.encode(span) + b"\n{broken\n")

    # When inspected as a table
    assert main(["inspect", "--spans", str(path)]) == 0
    table = capsys.readouterr().out

    # Then the session error and skip reasons come with hints
    assert "session s-unknown" in table
    assert "ERROR Provided input has no spans with supported scope" in table
    assert "unsupported scope 'my.tracer'" in table
    assert "truncated record" in table
    assert table.count("hint:") >= 3


def test_inspect_missing_file_is_a_clear_usage_error(tmp_path, capsys):
    assert main(["inspect", "--spans", str(tmp_path / "nope.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize(("encoding", "bom"), [("utf-16", b""), ("utf-8", codecs.BOM_UTF8)])
def test_inspect_reads_files_windows_shells_save_with_a_byte_order_mark(tmp_path, capsys, encoding, bom):
    # Given filter-log-events output saved as UTF-16 (PowerShell 5 `>`) or UTF-8 with a BOM
    records = generate(2, seed=5).records
    printed = {"events": [{"message": msgspec.json.encode(r).decode()} for r in records]}
    path = tmp_path / "events.json"
    path.write_bytes(bom + msgspec.json.encode(printed).decode().encode(encoding))

    # When inspected
    assert main(["inspect", "--spans", str(path), "--format", "json"]) == 0

    # Then every record is read, as from the plain UTF-8 file
    output = msgspec.json.decode(capsys.readouterr().out)
    assert len(output["sessions"]) == 2
    assert output["skipped"] == []


@pytest.mark.parametrize(
    ("shape", "encoding", "bom"),
    [
        ("jsonl", "utf-8", codecs.BOM_UTF8),
        ("array", "utf-8", codecs.BOM_UTF8),
        ("jsonl", "utf-16", b""),
        ("jsonl", "utf-32", b""),
    ],
)
def test_loader_reads_files_with_a_byte_order_mark_like_plain_utf8(tmp_path, shape, encoding, bom):
    # Given JSON Lines / a JSON array of records saved with a UTF-8 BOM, or as UTF-16/32 (which add one)
    records = generate(3, seed=9).records
    if shape == "jsonl":
        text = "\n".join(msgspec.json.encode(r).decode() for r in records) + "\n"
    else:
        text = msgspec.json.encode(records).decode()
    plain, marked = tmp_path / "plain.json", tmp_path / "marked.json"
    plain.write_text(text, encoding="utf-8")
    marked.write_bytes(bom + text.encode(encoding))

    # When both are loaded (small batches, so JSON Lines take the spooled path)
    loads = [load_sessions(p, keep_raw=False, batch_bytes=4096) for p in (plain, marked)]

    # Then the marked file gives the same sessions and nothing is skipped
    assert loads[1].skipped == []
    assert loads[1].sessions == loads[0].sessions
    assert len(loads[1].sessions) == 3


def test_undecodable_utf16_file_is_a_clear_error_naming_the_file(tmp_path, capsys):
    # Given a file marked as UTF-16 whose body is a lone surrogate
    path = tmp_path / "broken.json"
    path.write_bytes(codecs.BOM_UTF16_LE + "{}".encode("utf-16-le") + b"\x00\xd8")

    # When loaded, Then a ValueError names the file; inspect turns it into exit 2
    with pytest.raises(ValueError, match=r"broken\.json"):
        load_sessions(path)
    assert main(["inspect", "--spans", str(path)]) == 2
    assert "broken.json" in capsys.readouterr().err


def test_inputs_over_the_spool_cap_are_split_again_so_batches_stay_bounded(tmp_path, monkeypatch):
    # Given 40 sessions (~490 KB) of JSON Lines, 32 KB batches, and a spool cap of 4 (normally 256)
    from batcheval.traces import stream

    data = generate(40, seed=4).jsonl()
    path = tmp_path / "spans.jsonl"
    path.write_bytes(data)
    batch_bytes = 32 * 1024
    monkeypatch.setattr(stream, "MAX_SPOOLS", 4)
    batch_sizes: list[int] = []

    def measured_assemble(lines, **kwargs):
        lines = list(lines)
        batch_sizes.append(sum(len(line) for line in lines))
        return assemble(lines, **kwargs)

    monkeypatch.setattr(stream, "assemble", measured_assemble)

    # When assembled in batches
    assemblies = list(iter_jsonl_assemblies(path, batch_bytes=batch_bytes, keep_raw=False))

    # Then no batch is over twice batch_bytes (4 batches of ~120 KB before), and the sessions and
    # skip counts are those of the simple path
    assert max(batch_sizes) <= 2 * batch_bytes
    whole = assemble(data.splitlines(), keep_raw=False)
    streamed = sorted((s for a in assemblies for s in a.sessions), key=lambda s: s.session_id)
    assert streamed == sorted(whole.sessions, key=lambda s: s.session_id)
    assert [s for a in assemblies for s in a.skipped] == whole.skipped


def test_spooling_down_to_the_deepest_level_keeps_every_session(tmp_path, monkeypatch):
    # Given 40 sessions, 4 KB batches and a spool cap of 2: spools are split down to MAX_LEVELS
    from batcheval.traces import stream

    data = generate(40, seed=4).jsonl()
    path = tmp_path / "spans.jsonl"
    path.write_bytes(data)
    monkeypatch.setattr(stream, "MAX_SPOOLS", 2)

    # When assembled in batches
    assemblies = list(iter_jsonl_assemblies(path, batch_bytes=4096, keep_raw=False))

    # Then every session and skip count of the simple path is there, each once
    whole = assemble(data.splitlines(), keep_raw=False)
    streamed = sorted((s for a in assemblies for s in a.sessions), key=lambda s: s.session_id)
    assert streamed == sorted(whole.sessions, key=lambda s: s.session_id)
    assert [s for a in assemblies for s in a.skipped] == whole.skipped
    assert len(assemblies) > 4
