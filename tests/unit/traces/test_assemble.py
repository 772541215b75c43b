import gc
import random
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import msgspec
import pytest

from batcheval.traces import records as r
from batcheval.traces.assemble import assemble, paused_gc
from batcheval.traces.samples import FRAMEWORKS, generate
from batcheval.traces.scopes import NO_SPANS_TO_EVALUATE, no_supported_scope_message


def _span(trace="a" * 32, span="b" * 16, *, session="s1", scope="strands.telemetry.tracer", **attrs):
    attributes = {"gen_ai.operation.name": "invoke_agent", **attrs}
    if session is not None:
        attributes["session.id"] = session
    record = {
        "resource": {"attributes": {"service.name": "Agent.DEFAULT"}},
        "traceId": trace,
        "spanId": span,
        "name": "invoke_agent Agent",
        "startTimeUnixNano": 1_000,
        "endTimeUnixNano": 2_000,
        "attributes": attributes,
        "status": {"code": "OK"},
    }
    if scope is not None:
        record["scope"] = {"name": scope}
    return record


def _skips(assembly):
    return {s.reason: s.count for s in assembly.skipped}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_each_framework_parses_into_the_scripted_conversation(framework):
    # Given generated sessions of one framework, with ground truth describing the script
    sample = generate(6, seed=7, frameworks=[framework], ground_truth=True)
    truth = {g["sessionId"]: g["groundTruth"]["inline"] for g in sample.ground_truth}

    # When they are assembled
    assembly = assemble(sample.records)

    # Then every session and turn carries the scripted prompt, response and successful tool trajectory
    assert assembly.skipped == []
    assert sorted(s.session_id for s in assembly.sessions) == sorted(sample.session_ids)
    for session in assembly.sessions:
        expected = truth[session.session_id]
        assert session.errors == ()
        assert session.service_name == "TravelAgent.DEFAULT"
        assert [t.user_input for t in session.turns] == [t["input"]["prompt"] for t in expected["turns"]]
        assert [t.agent_response for t in session.turns] == [
            t["expectedResponse"]["text"] for t in expected["turns"]
        ]
        succeeded = [c.name for c in session.tool_calls if c.status == "success"]
        assert succeeded == expected["expectedTrajectory"]["toolNames"]
        for turn in session.turns:
            assert turn.model_calls, "every turn calls the model at least once"
            assert all(m.input_tokens and m.output_tokens and m.model for m in turn.model_calls)
            assert turn.system_prompt
            assert turn.system_prompt.startswith("You are")


def test_failed_tool_calls_carry_status_and_error():
    # Given sessions where every tool call has a chance to fail before its retry
    sample = generate(20, seed=3, frameworks=FRAMEWORKS, tool_error_rate=0.5)

    # When assembled
    calls = [c for s in assemble(sample.records).sessions for c in s.tool_calls]

    # Then failures are "error" with the span's status message, successes have results
    failed = [c for c in calls if c.status == "error"]
    assert failed, "the seed produces failures"
    assert all(c.error == "Service unavailable (503)" for c in failed)
    assert all(c.status == "success" and c.result and c.error is None for c in calls if c not in failed)
    assert all(c.latency_ms is not None and c.latency_ms > 0 for c in calls)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_split_mode_gives_the_same_sessions_as_unified_mode(framework):
    # Given the same conversations stored unified (content on spans) and split (content in event records)
    unified = generate(10, seed=11, mode="unified", frameworks=[framework])
    split = generate(10, seed=11, mode="split", frameworks=[framework])
    assert len(split.records) > len(unified.records)

    # When both are assembled, Then the sessions are equal
    assert assemble(split.records).sessions == assemble(unified.records).sessions


def test_result_does_not_depend_on_record_order_and_duplicates_are_dropped():
    # Given records in generated order, and the same records shuffled with some duplicated
    sample = generate(15, seed=5, frameworks=FRAMEWORKS, mode="split")
    shuffled = list(sample.records) + sample.records[:7]
    random.Random(1).shuffle(shuffled)

    # When both are assembled
    plain, noisy = assemble(sample.records), assemble(shuffled)

    # Then sessions (and their raw records) are identical; the duplicates are counted
    assert noisy.sessions == plain.sessions
    assert [s.spans for s in noisy.sessions] == [s.spans for s in plain.sessions]
    assert _skips(noisy) == {r.SKIP_DUPLICATE: 7}
    starts = [s.start_time_ns or 0 for s in plain.sessions]
    assert starts == sorted(starts)


def test_bad_lines_are_counted_with_reasons_and_never_raise():
    # Given one good span and every kind of bad input
    good = _span()
    lines = [
        msgspec.json.encode(good),
        b"not json at all",
        b'{"traceId": "abc", "spanId": "de',
        b"{" + b" " * (r.MAX_RECORD_BYTES + 1) + b"}",
        b"[1, 2]",
        msgspec.json.encode({"hello": "world"}),
        msgspec.json.encode({**_span(span="c" * 16), "spanId": None}),
        msgspec.json.encode(_span(span="d" * 16, scope=None)),
        msgspec.json.encode(_span(trace="e" * 32, session=None)),
        msgspec.json.encode(_span(span="f" * 16, scope="my.own.tracer")),
        msgspec.json.encode(_span(span="1" * 16, scope="opentelemetry.instrumentation.httpx")),
        msgspec.json.encode({**_span(span="2" * 16), "@ptr.$['attributes']['input.value']": "llo://x"}),
        b"",
    ]

    # When assembled
    assembly = assemble(lines)

    # Then the good session is there and every bad line has its reason
    assert [s.session_id for s in assembly.sessions] == ["s1"]
    assert _skips(assembly) == {
        r.SKIP_UNPARSABLE: 1,
        r.SKIP_TRUNCATED: 1,
        r.SKIP_OVERSIZED: 1,
        r.SKIP_NOT_OBJECT: 1,
        r.SKIP_NOT_OTEL: 1,
        r.SKIP_MISSING_IDS: 1,
        r.SKIP_MISSING_SCOPE: 1,
        r.SKIP_MISSING_SESSION: 1,
        f"{r.SKIP_UNKNOWN_PREFIX} 'my.own.tracer'": 1,
        f"{r.SKIP_TRANSPORT_PREFIX} 'opentelemetry.instrumentation.httpx'": 1,
        r.LLO_REFERENCE: 1,
    }


def test_sessions_with_nothing_evaluable_get_the_service_errors():
    # Given a session of unknown-scope spans, and one whose supported spans are neither agent, tool nor model
    unknown = _span(session="only-unknown", scope="custom.tracer")
    plumbing = _span(trace="9" * 32, session="only-plumbing", **{"gen_ai.operation.name": "something_else"})
    plumbing["name"] = "setup"

    # When assembled
    sessions = {s.session_id: s for s in assemble([unknown, plumbing]).sessions}

    # Then each has no turns and the service's message
    assert sessions["only-unknown"].turns == ()
    assert sessions["only-unknown"].errors == (no_supported_scope_message(),)
    assert "strands.telemetry.tracer" in no_supported_scope_message()
    assert sessions["only-plumbing"].errors == (NO_SPANS_TO_EVALUATE,)


def test_split_spans_without_their_event_records_are_reported_incomplete():
    # Given split-mode spans whose event records are missing (only aws/spans was read)
    sample = generate(1, seed=2, mode="split", max_turns=4)
    spans_only = [rec for rec in sample.records if "startTimeUnixNano" in rec]

    # When assembled
    (session,) = assemble(spans_only).sessions

    # Then turns exist without content, and the session says what is missing
    assert all(t.user_input is None and t.agent_response is None for t in session.turns)
    assert session.errors
    assert session.errors[0].startswith("Session span data is incomplete. Span with ID")
    assert "otel-rt-logs" in session.errors[0]
    # and the errors follow the turns whatever the record order
    assert len(session.errors) == len(session.turns)
    assert assemble(list(reversed(spans_only))).sessions == [session]


def test_child_spans_without_session_id_join_their_trace_and_event_records_need_a_span():
    # Given a tool span without session.id in a trace whose agent span has one, and an event record of no span
    agent = _span()
    tool = _span(
        span="c" * 16, session=None, **{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t"}
    )
    orphan = {"traceId": "7" * 32, "spanId": "8" * 16, "timeUnixNano": 5, "body": {}}

    # When assembled
    assembly = assemble([agent, tool, orphan])

    # Then the tool belongs to the session; the orphan is counted
    assert [c.name for c in assembly.sessions[0].tool_calls] == ["t"]
    assert _skips(assembly) == {r.SKIP_ORPHAN_EVENT: 1}


def test_filter_log_events_messages_are_unwrapped_and_trace_filter_keeps_listed_traces():
    # Given two traces of one session, wrapped as filter-log-events events
    first, second = _span(trace="1" * 32), _span(trace="2" * 32)
    events = [
        {"logStreamName": "spans", "timestamp": 1, "message": msgspec.json.encode(x).decode()}
        for x in (first, second)
    ]

    # When assembled keeping only the second trace
    assembly = assemble(events, trace_filter={"s1": {"2" * 32}})

    # Then only that turn is there
    assert [t.trace_id for t in assembly.sessions[0].turns] == ["2" * 32]


def test_raw_records_can_be_left_out():
    sample = generate(2, seed=1)
    assert all(s.spans == () for s in assemble(sample.records, keep_raw=False).sessions)
    assert sum(len(s.spans) for s in assemble(sample.records).sessions) == len(sample.records)


def test_assembling_leaves_earlier_cyclic_garbage_collectable():
    # Given a reference cycle that became garbage before an assembly (GC paused so it is not collected yet)
    class Node:
        self: object = None

    gc.disable()
    try:
        node = Node()
        node.self = node
        alive = weakref.ref(node)
        del node

        # When sessions are assembled
        assemble(generate(2, seed=3).records)
    finally:
        gc.enable()

    # Then a collection afterwards frees the cycle (gc.freeze() would have kept it forever)
    gc.collect()
    assert alive() is None


def _frozen(obj):
    """Whether `obj` sits in the GC's permanent generation (`gc.get_objects()` leaves that out)."""
    return gc.is_tracked(obj) and all(other is not obj for other in gc.get_objects())


def test_assembling_leaves_objects_the_process_froze_itself_frozen():
    # Given a process that froze its start-up objects (a common pre-fork/Lambda init pattern)
    start_up_state = [{"config": "loaded"}]
    gc.freeze()
    try:
        assert _frozen(start_up_state)

        # When sessions are assembled
        assemble(generate(2, seed=3).records)

        # Then those objects are still frozen (the count may drop: frozen objects can be freed)
        assert _frozen(start_up_state)
    finally:
        gc.unfreeze()


def test_concurrent_assemblies_leave_the_gc_to_the_last_one_out():
    # Given two threads assembling at once, the first finishing while the second is still inside
    first_inside, second_inside, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with paused_gc():
            first_inside.set()
            second_inside.wait(10)
        first_out.set()

    def second():
        first_inside.wait(10)
        with paused_gc():
            second_inside.set()
            first_out.wait(10)
            seen["while the second still assembles"] = gc.isenabled()
        seen["after both"] = gc.isenabled()

    assert gc.isenabled()
    threads = [threading.Thread(target=first), threading.Thread(target=second)]

    # When both run
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    # Then the first to finish did not re-enable the GC under the second; the last one out did
    assert seen == {"while the second still assembles": False, "after both": True}
    assert gc.isenabled()


def test_assembling_from_many_threads_gives_the_same_sessions_and_restores_the_gc():
    # Given a sample assembled once on this thread
    sample = generate(6, seed=4, frameworks=FRAMEWORKS, mode="split")
    expected = assemble(sample.records).sessions
    thresholds = gc.get_threshold()

    # When it is assembled by eight threads at once, with the GC disabled by the process beforehand
    gc.disable()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda _: assemble(sample.records).sessions, range(16)))
        # Then every thread gets the same sessions and the GC is as the process left it
        assert all(result == expected for result in results)
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert gc.get_threshold() == thresholds


@pytest.mark.parametrize("mode", ["unified", "split"])
def test_lines_and_dicts_give_the_same_sessions(mode):
    # Given the same records as JSON lines (decoded straight into typed records) and as dicts
    # (converted from dicts, the way damaged records are read), every framework mixed
    sample = generate(12, seed=5, frameworks=FRAMEWORKS, mode=mode, ground_truth=True)
    lines = [msgspec.json.encode(record) for record in sample.records]

    # When both are assembled, with and without the raw records (lines without them are decoded
    # straight into typed records; everything else goes through dicts)
    from_lines = assemble(lines, keep_raw=False)
    from_dicts = assemble(sample.records, keep_raw=False)
    raw_from_lines = assemble(lines)
    raw_from_dicts = assemble(sample.records)

    # Then sessions, raw records and skip counts agree
    assert from_lines.sessions == from_dicts.sessions == raw_from_lines.sessions == raw_from_dicts.sessions
    assert [s.spans for s in raw_from_lines.sessions] == [s.spans for s in raw_from_dicts.sessions]
    assert from_lines.skipped == from_dicts.skipped == raw_from_lines.skipped == raw_from_dicts.skipped


def test_a_record_damaged_in_one_field_keeps_the_rest():
    # Given a span whose times are text, whose status code is a list and whose scope version and
    # an unknown field hold junk: it does not fit the typed record, so it is read the slow way
    span = _span(**{"gen_ai.usage.input_tokens": "12"})
    span.update(startTimeUnixNano="1000", endTimeUnixNano=-5, status={"code": ["ERROR"]}, extra=[1, {}])
    span["scope"]["version"] = {"x": 1}

    # When assembled as a line
    assembly = assemble([msgspec.json.encode(span)], keep_raw=False)

    # Then numeric text is read as the number, the negative time as "not recorded", the odd status as unset
    (turn,) = assembly.sessions[0].turns
    assert (turn.start_time_ns, turn.end_time_ns, turn.errors) == (1000, None, ())
    assert assembly.skipped == []


def test_session_equality_ignores_how_it_was_read():
    # Given one session assembled with and without its raw records
    sample = generate(1, seed=3)
    with_raw = assemble(sample.records).sessions[0]
    without_raw = assemble(sample.records, keep_raw=False).sessions[0]

    # Then they are equal and hash alike, and neither repr shows the raw records
    assert with_raw.spans
    assert not without_raw.spans
    assert with_raw == without_raw
    assert hash(with_raw) == hash(without_raw)
    assert "spans" not in repr(with_raw)
