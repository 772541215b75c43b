import pytest

from batcheval.cli import main


def test_cli_without_command_prints_help_and_exits_2(capsys):
    # Given no sub-command, When the CLI runs, Then it shows usage and signals a usage error
    assert main([]) == 2
    assert "usage: batcheval" in capsys.readouterr().out


def test_cli_unknown_command_is_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
