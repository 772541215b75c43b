"""`batcheval` command line: each feature module registers its own sub-command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]


def _register_all(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # Imports are local so `batcheval --help` stays fast and no command pays for another's modules.
    from batcheval.commands import register_commands

    register_commands(sub)


def build_parser() -> argparse.ArgumentParser:
    from batcheval import __version__

    parser = argparse.ArgumentParser(
        prog="batcheval",
        description="Self-hosted Amazon Bedrock AgentCore batch evaluation.",
    )
    parser.add_argument("--version", action="version", version=f"batcheval {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _register_all(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except BrokenPipeError:  # `batcheval ... | head`: the reader has seen enough; end quietly
        _silence_stdout()
        return 0


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
