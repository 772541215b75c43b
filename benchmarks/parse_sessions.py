"""Parse + assemble throughput on generated sessions (run by hand: `python -m benchmarks.parse_sessions`).

Generates N sessions (default 10,000 ≈ 100,000 spans) as CloudWatch JSON Lines, then measures, each
in a fresh subprocess so peak RSS belongs to that path alone:

* `stream`    — `load_sessions(file, keep_raw=False)` (as `batcheval inspect` reads): byte-scan
                pre-partition into batches, assemble batch by batch (memory bounded by one batch);
* `pipeline`  — `load_sessions(file)` with its defaults, as `batcheval evaluate --spans` reads: the
                same as `stream` but each session keeps its raw records (`keep_raw=True`, for
                code-based evaluators), so its peak RSS holds every session's records;
* `whole`     — read every line, then `assemble(lines)` in one go (memory grows with the source);
* `group`     — the reference point of performance-limits.md §3: decode every line to a dict
                (msgspec) with the GC paused and group the records by session id, building no turns;
* `partition` — the streamed path's first pass alone (byte scan + spool writes), no decoding;
* `floor`     — `partition`, then decode every spooled line into the typed `Record` (as assembly
                does) and drop it: what the streamed path costs before it builds anything;
* `minimal`   — `stream` with the session builder swapped for a Strands-only one that reads ten
                fields straight off the records (no lookup order, no checks, no errors): an upper
                bound for any turn builder in this design, not a product path.

`stream` and `whole` keep the raw records off the sessions (`keep_raw=False`) unless --keep-raw.
Target (issue 3): ≥ 10,000 sessions/s in one process on the 2-core dev machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from batcheval.traces.samples import FRAMEWORKS, generate


def _measure(mode: str, path: str, keep_raw: bool, batch_mb: float) -> dict[str, float]:
    from batcheval.traces.assemble import assemble
    from batcheval.traces.files import load_sessions

    started, cpu_started = time.perf_counter(), time.process_time()
    batch_bytes = int(batch_mb * 2**20)
    if mode == "stream":
        sessions = len(load_sessions(path, keep_raw=keep_raw, batch_bytes=batch_bytes).sessions)
    elif mode == "pipeline":
        sessions = len(load_sessions(path, batch_bytes=batch_bytes).sessions)
    elif mode == "minimal":
        sessions = _minimal_stream(path, batch_bytes)
    elif mode in ("partition", "floor"):
        _first_pass(path, batch_bytes, decode=mode == "floor")
        sessions = -1
    elif mode == "group":
        sessions = _group_only(path)
    else:
        with open(path, "rb") as file:
            sessions = len(assemble(file.readlines(), keep_raw=keep_raw).sessions)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    if sessions < 0:
        sessions = _count_sessions(path)
    return {"sessions": sessions, "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": _peak_rss_mb()}


def _group_only(path: str) -> int:
    import gc

    import msgspec

    groups: dict[str, list[dict]] = {}
    gc.disable()
    with open(path, "rb") as file:
        for line in file:
            record = msgspec.json.decode(line)
            session_id = record.get("attributes", {}).get("session.id")
            if session_id:
                groups.setdefault(session_id, []).append(record)
    gc.enable()
    return len(groups)


def _first_pass(path: str, batch_bytes: int, *, decode: bool) -> None:
    """Spool the file as `load_sessions` does; with `decode`, also decode every spooled line into a
    `Record` and drop it (GC paused, as `assemble` runs)."""
    import gc
    import os

    from batcheval.traces.records import record_decoder
    from batcheval.traces.stream import partition_lines

    decode_line = record_decoder().decode
    n_spools = max(1, -(-os.path.getsize(path) // batch_bytes))
    with tempfile.TemporaryDirectory() as tmp, open(path, "rb") as file:
        spools = partition_lines(file, n_spools, Path(tmp))
        if decode:
            gc.disable()
            for spool in spools:
                with spool.open("rb") as lines:
                    for line in lines:
                        decode_line(line)
            gc.enable()


def _minimal_stream(path: str, batch_bytes: int) -> int:
    """`stream` with a turn builder that does the least any could: Strands unified spans only."""
    import msgspec

    from batcheval.traces import assemble as assembly
    from batcheval.traces.files import load_sessions
    from batcheval.traces.model import ModelCall, Session, ToolCall, Turn
    from batcheval.traces.records import Record

    roles: dict[Any, str] = {"invoke_agent": "agent", "execute_tool": "tool", "chat": "llm"}

    def text(value: str | None) -> str | None:
        if value and value[:1] == "[":
            return "\n".join(block["text"] for block in msgspec.json.decode(value) if "text" in block)
        return value

    def turn(trace_id: str, copies: dict[str, tuple[Record, Any]]) -> Turn:
        agent: Any = None
        llms: list[Any] = []
        tools: list[Any] = []
        for record, _ in copies.values():
            role = roles.get(record.attributes.get("gen_ai.operation.name"))
            if role == "agent":
                agent = record
            elif role is not None:
                (llms if role == "llm" else tools).append(record)
        llms.sort(key=lambda r: r.startTimeUnixNano)
        tools.sort(key=lambda r: r.startTimeUnixNano)
        events = {event.name: event.attributes for event in agent.events}
        calls = []
        for tool in tools:
            tool_events = {event.name: event.attributes for event in tool.events}
            calls.append(
                ToolCall(
                    tool.attributes.get("gen_ai.tool.name"),
                    tool.spanId,
                    tool_events.get("gen_ai.tool.message", {}).get("content"),
                    text(tool_events.get("gen_ai.choice", {}).get("message")),
                    "success",
                    None,
                    tool.attributes.get("gen_ai.tool.call.id"),
                    tool.startTimeUnixNano,
                    tool.endTimeUnixNano,
                )
            )
        models = [
            ModelCall(
                llm.spanId,
                llm.attributes.get("gen_ai.request.model"),
                llm.attributes.get("gen_ai.usage.input_tokens"),
                llm.attributes.get("gen_ai.usage.output_tokens"),
                llm.startTimeUnixNano,
                llm.endTimeUnixNano,
            )
            for llm in llms
        ]
        return Turn(
            trace_id,
            agent.spanId,
            text(events.get("gen_ai.user.message", {}).get("content")),
            text(events.get("gen_ai.choice", {}).get("message")),
            agent.attributes.get("gen_ai.system_instructions"),
            tuple(calls),
            tuple(models),
            start_time_ns=agent.startTimeUnixNano,
            end_time_ns=agent.endTimeUnixNano,
        )

    def session(
        session_id: str, trace_ids: list[str], trace_spans: dict, *_: object, **__: object
    ) -> Session:
        turns = sorted((turn(t, trace_spans[t]) for t in trace_ids), key=lambda t: t.start_time_ns or 0)
        return Session(session_id, None, tuple(turns))

    assembly._build_session = session
    return len(load_sessions(path, keep_raw=False, batch_bytes=batch_bytes).sessions)


def _count_sessions(path: str) -> int:
    """Distinct session ids in the file (outside the timed part: the first-pass modes build none)."""
    from batcheval.traces.stream import scan_string_value

    with open(path, "rb") as file:
        return len({scan_string_value(line, b'"session.id"') for line in file} - {None})


def _peak_rss_mb() -> float:
    """VmHWM: this process's own peak (ru_maxrss would include the parent's, inherited across exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--frameworks", default="strands", help=f"comma list of {','.join(FRAMEWORKS)}")
    parser.add_argument("--mode", choices=("unified", "split"), default="unified")
    parser.add_argument("--keep-raw", action="store_true")
    parser.add_argument("--batch-mb", type=float, default=16.0)
    parser.add_argument("--paths", default="stream,pipeline,whole,group,partition,floor,minimal")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(_measure(args.child[0], args.child[1], args.keep_raw, args.batch_mb)))
        return

    sample = generate(args.sessions, args.seed, frameworks=args.frameworks.split(","), mode=args.mode)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spans.jsonl"
        path.write_bytes(sample.jsonl())
        size_mb = path.stat().st_size / 1e6
        n_records = len(sample.records)
        del sample
        print(
            f"{args.sessions:,} sessions, {n_records:,} records, {size_mb:.1f} MB "
            f"({args.frameworks}, {args.mode}, keep_raw={args.keep_raw})"
        )
        for name in args.paths.split(","):
            for run in range(1, args.runs + 1):
                command = [sys.executable, "-m", "benchmarks.parse_sessions", "--child", name, str(path)]
                command += ["--batch-mb", str(args.batch_mb)] + (["--keep-raw"] if args.keep_raw else [])
                result = json.loads(
                    subprocess.run(command, check=True, capture_output=True, text=True).stdout
                )
                rate = result["sessions"] / result["seconds"]
                cpu_rate = result["sessions"] / result["cpu_seconds"]
                print(
                    f"  {name:<9} run {run}: {result['seconds']:.2f} s wall  {rate:,.0f} sessions/s  "
                    f"({cpu_rate:,.0f}/s of CPU time)  {n_records / result['seconds']:,.0f} records/s  "
                    f"{size_mb / result['seconds']:.0f} MB/s  peak RSS {result['peak_rss_mb']:.0f} MB"
                )


if __name__ == "__main__":
    main()
