"""Every command the README shows parses with the real CLI, names a real make target or benchmark.

Running them is the job of the feature tests (and the demo); this keeps the README from drifting
from the code: a renamed flag, a removed subcommand or a benchmark that moved fails here.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from batcheval.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def _shell_commands() -> list[str]:
    """The README's sh code blocks, one command a line (continuations joined, comments dropped)."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            command = line.split(" #", 1)[0].strip()
            if command:
                commands.append(command)
    return commands


def _inline_commands() -> list[str]:
    """Commands quoted inline in prose and tables with their options (`batcheval … --x`, `python -m …`)."""
    found = re.findall(r"`((?:\.venv/bin/)?(?:batcheval|python -m benchmarks)[^`]*)`", README.read_text())
    return [command for command in found if " --" in command or command.startswith("python")]


COMMANDS = _shell_commands() + _inline_commands()


def test_the_readme_shows_the_two_set_up_commands_and_the_cli():
    # Given the README's commands, Then the two set-up commands and the CLI are among them
    assert "make demo" in COMMANDS
    assert "make test" in COMMANDS
    assert any(command.startswith(("batcheval ", ".venv/bin/batcheval ")) for command in COMMANDS)


@pytest.mark.parametrize(
    "command", [c for c in COMMANDS if c.startswith(("batcheval ", ".venv/bin/batcheval "))]
)
def test_each_batcheval_command_in_the_readme_parses(command):
    # Given a batcheval command from the README (placeholders like JOB_ID stand for real values)
    argv = shlex.split(command.replace("> results.jsonl", ""))[1:]
    # When the real parser reads it, Then it is accepted (argparse exits on an unknown flag or command)
    args = build_parser().parse_args(argv)
    assert args.command == argv[0]


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith("python -m benchmarks")])
def test_each_benchmark_in_the_readme_exists(command):
    # Given a benchmark command from the README, Then its module exists
    module = shlex.split(command)[2]
    assert importlib.util.find_spec(module) is not None, module


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith("make ")])
def test_each_make_target_in_the_readme_exists(command):
    # Given a make command from the README, Then the Makefile defines that target
    target = command.split()[1]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^{re.escape(target)}:", makefile, flags=re.M), target
