import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from batcheval.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--tenant", "only:two"], "ACCESS_KEY:SECRET:ACCOUNT_ID"),
        (["serve", "--tenant", "ak:secret:12"], "12 digits"),
        (
            ["serve", "--kms-key-arn", "arn:aws:kms:us-east-1:123456789012:key/x"],
            "need --aws or --endpoint-url",
        ),
        (["demo", "--create-resources"], "need --aws or --endpoint-url"),
        (["serve", "--allow-account", "12345"], "12-digit account ids"),
        (["serve", "--aws"], "a KMS key ARN is required"),
        (["serve", "--burst-limit", "3"], "--burst-limit needs --rate-limit"),
        (["serve", "--rate-limit", "0"], "--rate-limit must be > 0"),
    ],
)
def test_bad_options_are_usage_errors_with_a_clear_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["serve", "--port", "70000"], ["demo", "--emulator-port", "-1"]])
def test_a_port_out_of_range_is_a_usage_error_not_a_crash(argv, capsys):
    # Given a port number no socket can bind
    # When parsing the command line, Then it is a usage error (exit 2) naming the range
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "a port is 0-65535" in capsys.readouterr().err


def test_aws_and_endpoint_url_exclude_each_other():
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--aws", "--endpoint-url", "http://127.0.0.1:1"])
    assert exc.value.code == 2


def test_a_busy_port_is_reported_not_raised(capsys):
    # Given a port someone else listens on
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # When serve tries it, Then it says so and exits 1
        assert main(["serve", "--quiet", "--port", str(port)]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_serve_prints_its_endpoints_and_stops_cleanly_on_ctrl_c():
    # Given `batcheval serve` running as a user would start it
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "batcheval.cli",
            "serve",
            "--port",
            "0",
            "--quiet",
            "--tenant",
            "ak2:s2:222222222222",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        banner = []
        deadline = time.monotonic() + 30
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            banner.append(line)
            if "Press Ctrl-C" in line or not line:
                break
        text = "".join(banner)
        # Then it printed the API and emulator endpoints, the tenants and a client snippet
        assert re.search(r"API endpoint \(SigV4\):\s+http://127\.0\.0\.1:\d+", text), text
        assert re.search(r"AWS endpoint \(emulator\):\s+http://127\.0\.0\.1:\d+", text)
        assert "test -> 123456789012" in text
        assert "ak2 -> 222222222222" in text
        assert "s2" not in text.split("tenants:")[1].splitlines()[0]  # secrets of added tenants stay private
        assert "batcheval.client(endpoint_url=" in text
        # When Ctrl-C arrives, Then it shuts down with exit code 0
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_log_group_needs_a_preceding_load_spans(capsys):
    # Given --log-group with no --load-spans before it, Then it is a usage error naming the rule
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--log-group", "g"])
    assert exc.value.code == 2
    assert "preceding --load-spans" in capsys.readouterr().err


def test_load_spans_is_refused_against_real_aws(tmp_path, capsys):
    spans = tmp_path / "spans.jsonl"
    spans.write_text("")
    assert main(["serve", "--aws", "--load-spans", str(spans)]) == 2
    assert "not with --aws" in capsys.readouterr().err


def test_load_spans_pairs_each_file_with_its_log_group():
    # Given two files, the second with its own log group
    from batcheval.cli import build_parser

    args = build_parser().parse_args(
        ["serve", "--load-spans", "a.jsonl", "--load-spans", "b.jsonl", "--log-group", "my/group"]
    )
    # Then the first goes to the default group and the second to its own
    assert [(str(load.path), load.log_group) for load in args.load_spans] == [
        ("a.jsonl", "aws/spans"),
        ("b.jsonl", "my/group"),
    ]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["serve"], "UnconfiguredJudge"),
        (["serve", "--endpoint-url", "http://127.0.0.1:5000"], "UnconfiguredJudge"),
        (["serve", "--aws"], None),
        (["demo"], "UnconfiguredJudge"),
        (["serve", "--judge", "openai:http://127.0.0.1:9/v1", "--model", "m"], "RetryingJudge"),
    ],
)
def test_the_local_judge_is_unconfigured_unless_asked_for_but_aws_keeps_the_handlers_own(argv, expected):
    # Given the parsed options of a local run
    from batcheval.cli import build_parser
    from batcheval.local.cli import _judge_for

    # When the local run's judge is chosen
    judge = _judge_for(build_parser().parse_args(argv))
    # Then an emulator run without --judge never reaches a model; --aws leaves the handlers' default
    assert (type(judge).__name__ if judge is not None else None) == expected


def test_the_local_judge_takes_model_key_and_quota_from_the_shell(monkeypatch):
    # Given the shell's judge variables (read once, by the local run's edge) and no --model
    from batcheval.judges.openai_compat import OpenAICompatJudge
    from batcheval.judges.ratelimit import RateLimitedJudge
    from batcheval.judges.retry import RetryingJudge
    from batcheval.local.judge import local_judge

    monkeypatch.setenv("BATCHEVAL_OPENAI_MODEL", "qwen2.5:7b")
    monkeypatch.setenv("BATCHEVAL_OPENAI_API_KEY", "sk-shell")
    monkeypatch.setenv("BATCHEVAL_JUDGE_TOKENS_PER_MINUTE", "120000")
    monkeypatch.setenv("BATCHEVAL_JUDGE_MAX_IN_FLIGHT", "3")
    # When the local run's judge is built
    judge = local_judge("openai:http://127.0.0.1:9/v1", None)
    # Then the model, key and quota come from the shell; the in-flight cap stays the local default
    assert isinstance(judge, RetryingJudge)
    assert isinstance(judge.inner, RateLimitedJudge)
    backend = judge.inner.inner
    assert isinstance(backend, OpenAICompatJudge)
    assert (backend.model_id, backend._api_key) == ("qwen2.5:7b", "sk-shell")
    limits = judge.inner.limiter.limits_for("qwen2.5:7b")
    assert limits is not None
    assert (limits.tokens_per_minute, limits.max_in_flight) == (120_000, 16)
