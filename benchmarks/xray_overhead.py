"""What X-Ray tracing costs a Lambda entry point per AWS call (CPU time), measured offline.

`python -m benchmarks.xray_overhead [--calls N]` runs one invocation of a `lambda_entry`-wrapped
handler making N stubbed DynamoDB calls (botocore's Stubber: no network), twice in fresh processes
that look like Lambda (LAMBDA_TASK_ROOT and a sampled trace header set): once with the Tracer on
(botocore patched, each call a subsegment streamed as UDP to a local sink standing in for the X-Ray
daemon), once with POWERTOOLS_TRACE_DISABLED=true. Prints the CPU microseconds per call of each.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from typing import Any

TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def _invocation(calls: int) -> float:
    """CPU seconds of one handler invocation making `calls` DynamoDB GetItem calls."""
    import boto3
    from botocore.stub import Stubber

    from batcheval.local.lambda_context import LocalLambdaContext
    from batcheval.observability import lambda_entry, pipeline_logger

    client = boto3.Session(
        region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    ).client("dynamodb")
    stub = Stubber(client)
    for _ in range(calls + 1):
        stub.add_response(
            "get_item", {"Item": {"pk": {"S": "job"}}}, {"TableName": "t", "Key": {"pk": {"S": "job"}}}
        )
    stub.activate()
    client.get_item(TableName="t", Key={"pk": {"S": "job"}})  # warm the client outside the measurement

    @lambda_entry(pipeline_logger)
    def handler(event: dict[str, Any], context: Any) -> None:
        for _ in range(calls):
            client.get_item(TableName="t", Key={"pk": {"S": "job"}})

    context = LocalLambdaContext(
        function_name="bench",
        aws_request_id="r",
        invoked_function_arn="arn:aws:lambda:us-east-1:1:function:b",
    )
    begin = time.process_time()
    handler({}, context)
    return time.process_time() - begin


def _child(calls: int) -> None:
    print(f"{_invocation(calls):.6f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.calls)
        return
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the daemon's stand-in: datagrams are dropped
    sink.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{sink.getsockname()[1]}"
    base = {key: value for key, value in os.environ.items() if not key.startswith("POWERTOOLS_")}
    base.update(
        {
            "LAMBDA_TASK_ROOT": "/var/task",
            "AWS_LAMBDA_FUNCTION_NAME": "bench",
            "_X_AMZN_TRACE_ID": TRACE_HEADER,
            "AWS_XRAY_DAEMON_ADDRESS": address,
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    command = [sys.executable, "-m", "benchmarks.xray_overhead", "--child", "--calls", str(args.calls)]
    for label, extra in (("tracing on ", {}), ("tracing off", {"POWERTOOLS_TRACE_DISABLED": "true"})):
        out = subprocess.run(command, env={**base, **extra}, capture_output=True, text=True, check=True)
        cpu = float(out.stdout.split()[-1])
        print(f"{label}: {cpu * 1e6 / args.calls:7.1f} µs CPU per AWS call ({args.calls} calls)")
    sink.close()


if __name__ == "__main__":
    main()
