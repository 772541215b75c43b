"""Malformed records of every shape are counted or tolerated, never raised (issue 3, point 4)."""

import copy
import random

import msgspec

from batcheval.traces import records as r
from batcheval.traces.assemble import TOO_DEEP, assemble
from batcheval.traces.render import inspect_json, inspect_table
from batcheval.traces.samples import FRAMEWORKS, generate

_JUNK = [None, 0, -1, 1.5, True, "", "x", "[1,", "{}", "[]", [], {}, [None], {"a": None}, 10**30]


def _mutate(value, rng, depth=0):
    """Replace a random part of a JSON value with junk of another type."""
    if isinstance(value, dict) and value and depth < 4:
        key = rng.choice(sorted(value))
        if rng.random() < 0.15:
            del value[key]
        else:
            value[key] = _mutate(value[key], rng, depth + 1)
        return value
    if isinstance(value, list) and value and depth < 4:
        index = rng.randrange(len(value))
        value[index] = _mutate(value[index], rng, depth + 1)
        return value
    return copy.deepcopy(rng.choice(_JUNK))


def _nested_containers(value, path=()):
    """Paths of every object or array inside a record (not the record itself)."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        if isinstance(inner, dict | list):
            yield (*path, key)
            yield from _nested_containers(inner, (*path, key))


def _swap_type(record, rng):
    """Replace one nested object/array at any depth (events, attributes, resource, scope, status, body,
    messages, content, ...) with junk of another type, e.g. `"attributes": "x"`."""
    paths = list(_nested_containers(record))
    if not paths:
        return record
    *parents, key = rng.choice(paths)
    parent = record
    for step in parents:
        parent = parent[step]
    parent[key] = copy.deepcopy(rng.choice([j for j in _JUNK if type(j) is not type(parent[key])]))
    return record


def _as_line(record):
    try:
        return msgspec.json.encode(record)
    except TypeError:  # an integer beyond 64 bits: keep the dict
        return record


def test_randomly_damaged_records_never_crash_assembly_or_rendering():
    # Given records of every framework and mode, each damaged in random places, 20 rounds
    rng = random.Random(2026)
    originals = generate(6, seed=1, frameworks=FRAMEWORKS).records + generate(6, seed=2, mode="split").records
    for _ in range(40):
        damaged = []
        for record in originals:
            copy_ = copy.deepcopy(record)
            for _ in range(rng.randint(0, 3)):
                copy_ = _mutate(copy_, rng) if rng.random() < 0.5 else _swap_type(copy_, rng)
            damaged.append(copy_)
        lines = [_as_line(r) if rng.random() < 0.5 else r for r in damaged]

        # When assembled (lines straight into typed records, or via dicts when raw records are
        # kept) and rendered, Then nothing raises, every session renders, and both ways agree
        assemblies = [assemble(lines, keep_raw=keep_raw) for keep_raw in (False, True)]
        for assembly in assemblies:
            inspect_table(assembly.sessions, assembly.skipped)
            msgspec.json.encode(inspect_json(assembly.sessions, assembly.skipped))
        assert assemblies[0].sessions == assemblies[1].sessions
        assert assemblies[0].skipped == assemblies[1].skipped


def _strands_agent_span(events):
    return {
        "resource": {"attributes": {"service.name": "Agent.DEFAULT"}},
        "scope": {"name": "strands.telemetry.tracer"},
        "traceId": "a" * 32,
        "spanId": "b" * 16,
        "name": "invoke_agent Agent",
        "startTimeUnixNano": 1_000,
        "endTimeUnixNano": 2_000,
        "attributes": {"gen_ai.operation.name": "invoke_agent", "session.id": "s1"},
        "status": {"code": "ERROR"},
        "events": events,
    }


def test_inline_events_of_the_wrong_type_are_counted_and_the_rest_is_read():
    # Given an agent span whose inline events mix well-formed events with an event that is a string
    # and events whose attributes are a string, a list and a number
    span = _strands_agent_span(
        [
            {"name": "gen_ai.user.message", "attributes": "x"},
            {"name": "gen_ai.choice", "attributes": ["x"]},
            {"name": "exception", "attributes": 7},
            "not an event",
            {"name": "gen_ai.user.message", "attributes": {"content": "hello"}},
            {"name": "gen_ai.choice", "attributes": {"message": "hi there"}},
            {"name": "gen_ai.system.message"},
        ]
    )

    # When it is assembled (as a line and as a dict)
    for item in (msgspec.json.encode(span), span):
        assembly = assemble([item])

        # Then the four malformed events are counted, and the well-formed ones still make the turn
        skipped = {s.reason: s.count for s in assembly.skipped}
        assert skipped == {r.SKIP_MALFORMED_EVENT: 4}
        (turn,) = assembly.sessions[0].turns
        assert (turn.user_input, turn.agent_response) == ("hello", "hi there")
        assert turn.errors == ("invoke_agent Agent: error",)


def test_events_that_are_not_a_list_are_counted():
    # Given an agent span whose `events` is an object
    span = _strands_agent_span({"name": "gen_ai.user.message"})

    # When assembled
    assembly = assemble([span])

    # Then the session is still built and the malformed events field is counted once
    assert [s.session_id for s in assembly.sessions] == ["s1"]
    assert {s.reason: s.count for s in assembly.skipped} == {r.SKIP_MALFORMED_EVENT: 1}


def _deep_line(field_json: bytes) -> bytes:
    span = _strands_agent_span([])
    span["status"] = {"code": "OK"}
    return msgspec.json.encode(span)[:-1] + b',"extra":' + field_json + b"}"


def test_duplicates_nested_beyond_the_encoders_limits_are_still_deduplicated():
    # Given two copies of a span carrying an array nested 1,000 levels deep, handed over as decoded
    # records (as a file holding one JSON array gives them): too deep for the JSON encoder
    deep: list[object] = ["x"]
    for _ in range(1000):
        deep = [deep]
    span = _strands_agent_span([])
    span["status"] = {"code": "OK"}
    span["extra"] = deep

    # When assembled
    assembly = assemble([span, dict(span)])

    # Then one copy is dropped as a duplicate and the session is built
    assert {s.reason: s.count for s in assembly.skipped} == {r.SKIP_DUPLICATE: 1}
    assert [s.session_id for s in assembly.sessions] == ["s1"]


def test_a_line_nested_deeper_than_the_decoder_reads_is_counted_as_unparsable():
    # Given a span line carrying an array nested 5,000 levels deep (beyond any JSON decoder's depth)
    deep = b"[" * 5000 + b'"x"' + b"]" * 5000
    line = _deep_line(deep)

    # When assembled (with and without raw records)
    for keep_raw in (True, False):
        assembly = assemble([line], keep_raw=keep_raw)

        # Then the line is counted as unparsable instead of crashing the assembly
        assert {s.reason: s.count for s in assembly.skipped} == {r.SKIP_UNPARSABLE: 1}
        assert assembly.sessions == []


def test_message_content_nested_too_deep_to_read_gives_a_per_session_error():
    # Given an agent span whose user message content is an array nested 1,000 levels deep
    span = _strands_agent_span([])
    span["status"] = {"code": "OK"}
    deep = "[" * 1000 + '"x"' + "]" * 1000
    span["attributes"]["gen_ai.input.messages"] = f'[{{"role": "user", "content": {deep}}}]'

    # When assembled
    assembly = assemble([msgspec.json.encode(span)])

    # Then the session carries the error instead of crashing the whole assembly
    (session,) = assembly.sessions
    assert session.session_id == "s1"
    assert session.errors == (TOO_DEEP,)


def test_lines_damaged_byte_by_byte_never_crash_assembly():
    # Given valid lines of every framework and mode, with random bytes overwritten (invalid UTF-8,
    # broken escapes, stray quotes and braces) or cut off, 30 rounds
    rng = random.Random(7)
    records = generate(4, seed=3, frameworks=FRAMEWORKS).records + generate(4, seed=4, mode="split").records
    lines = [msgspec.json.encode(record) for record in records]
    junk = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\\", b'"', b"}", b"{", b"\x00", b"\\ud800", b"9" * 30]
    for _ in range(30):
        damaged = []
        for line in lines:
            data = bytearray(line)
            for _ in range(rng.randint(0, 2)):
                at = rng.randrange(len(data))
                data[at : at + 1] = rng.choice(junk)
            if rng.random() < 0.1:
                data = data[: rng.randrange(len(data))]
            damaged.append(bytes(data))

        # When assembled (with and without raw records), Then nothing raises and every line is
        # either used or counted
        for keep_raw in (True, False):
            assembly = assemble(damaged, keep_raw=keep_raw)
            msgspec.json.encode(inspect_json(assembly.sessions, assembly.skipped))


def test_a_line_with_invalid_utf8_is_counted_as_unparsable():
    # Given otherwise valid span lines with a byte that is not UTF-8 inside a string: the span name
    # (a typed field) and an attribute value (free-form)
    valid = msgspec.json.encode(_strands_agent_span([]))
    lines = [
        valid.replace(b"invoke_agent Agent", b"invoke_agent Ag\xffent"),
        valid.replace(b'"s1"', b'"s\xff1"'),
    ]
    assert all(b"\xff" in line for line in lines)

    # When assembled (with raw records: decoded to dicts; without: decoded to typed records),
    # Then both are counted, not raised
    for keep_raw in (True, False):
        assembly = assemble(lines, keep_raw=keep_raw)
        assert {s.reason: s.count for s in assembly.skipped} == {r.SKIP_UNPARSABLE: 2}
