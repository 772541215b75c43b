"""`batcheval inspect --spans FILE [--format json|table]`: show how spans were understood."""

from __future__ import annotations

import argparse
import codecs
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

from batcheval.traces.files import load_sessions
from batcheval.traces.render import inspect_json, inspect_table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "inspect",
        help="show how agent spans are understood (sessions, turns, tools, models, skipped records)",
        description=(
            "Read FILE (JSON Lines of span documents / event records as CloudWatch stores them, or the "
            "JSON printed by `aws logs filter-log-events`) and show the sessions evaluators would see."
        ),
    )
    parser.add_argument("--spans", required=True, metavar="FILE", help="spans file to read")
    parser.add_argument("--format", choices=("json", "table"), default="table", help="output format")
    parser.set_defaults(handler=run_inspect)


_BOM_CODECS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@contextmanager
def utf8_file(path: str) -> Iterator[str]:
    """The file, or a UTF-8 copy without byte-order mark when it has one.

    Windows shells save `aws logs filter-log-events ... > events.json` as UTF-16 (PowerShell 5) or
    with a UTF-8 BOM; CloudWatch records are UTF-8 JSON, so such a file would be read as all junk.
    """
    with open(path, "rb") as probe:
        head = probe.read(4)
    encoding = next((name for bom, name in _BOM_CODECS if head.startswith(bom)), None)
    if encoding is None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="batcheval-inspect-") as tmp:
        copy = Path(tmp) / "spans.utf8"
        with open(path, encoding=encoding, newline="") as source, copy.open("w", encoding="utf-8") as target:
            shutil.copyfileobj(source, target, 1 << 20)
        yield str(copy)


def run_inspect(args: argparse.Namespace) -> int:
    try:
        with utf8_file(args.spans) as path:
            load = load_sessions(path, keep_raw=False)
    except (OSError, UnicodeError) as exc:
        print(
            f"batcheval inspect: cannot read {args.spans}: {getattr(exc, 'strerror', None) or exc}",
            file=sys.stderr,
        )
        return 2
    if args.format == "json":
        text = orjson.dumps(inspect_json(load.sessions, load.skipped), option=orjson.OPT_INDENT_2).decode()
    else:
        text = inspect_table(load.sessions, load.skipped)
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `batcheval inspect ... | head`: the reader has seen enough
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush quiet
    return 0
