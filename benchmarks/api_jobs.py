"""Job API handler latency and payload sizes on the moto emulator.

`python -m benchmarks.api_jobs [--repeat N]`. Measures the real Lambda handlers in-process (moto
in-memory backends; real AWS adds network round trips: roughly one DynamoDB transaction, one KMS
DescribeKey when a caller key is given and one S3 PutObject per Start).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from moto import mock_aws
from tests.integration.api.conftest import BUCKET, OWNER, REGION, TABLE, api_event, invoke, start_body

from batcheval.api import dependencies
from batcheval.aws import AwsClients
from batcheval.jobs.resources import ensure_job_resources


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    samples, last = [], None
    for _ in range(repeat):
        begin = time.perf_counter()
        last = fn()
        samples.append((time.perf_counter() - begin) * 1000)
    return samples, last


def _report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    print(f"{name:<34} n={len(samples):<4} median={statistics.median(samples):7.2f} ms  p95={p95:7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "BATCHEVAL_JOBS_TABLE": TABLE,
            "BATCHEVAL_PAYLOAD_BUCKET": BUCKET,
            "BATCHEVAL_MAX_ACTIVE_JOBS": "100000",
            "BATCHEVAL_MAX_STORED_JOBS": "100000",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    with mock_aws():
        clients = AwsClients(region=REGION)
        ensure_job_resources(clients, table_name=TABLE, bucket_name=BUCKET)
        os.environ["BATCHEVAL_KMS_KEY_ARN"] = clients.client("kms").create_key()["KeyMetadata"]["Arn"]
        dependencies.reset()
        counter = iter(range(10**9))

        def start() -> Any:
            return invoke("start", api_event("start", body=start_body(f"bench{next(counter)}")))

        samples, response = _timed(start, args.repeat)
        _report("Start (small request)", samples)
        job_id = response.body["batchEvaluationId"]
        get_samples, _ = _timed(lambda: invoke("get", api_event("get", job_id=job_id)), args.repeat)
        _report("Get", get_samples)
        list_samples, _ = _timed(
            lambda: invoke("list", api_event("list", query={"maxResults": "100"})), args.repeat
        )
        _report("List (100 per page)", list_samples)
        page = invoke("list", api_event("list", query={"maxResults": "10"}))
        token = page.body["nextToken"]
        paged, _ = _timed(
            lambda: invoke("list", api_event("list", query={"maxResults": "10", "nextToken": token})),
            args.repeat,
        )
        _report("List (10, with nextToken)", paged)

        sessions = [
            {
                "sessionId": f"session-{i}",
                "groundTruth": {"inline": {"assertions": [{"text": "x" * 10_000}]}},
            }
            for i in range(500)
        ]
        body = start_body("bulky", evaluationMetadata={"sessionMetadata": sessions})
        event = api_event("start", body=body)
        begin = time.perf_counter()
        bulky = invoke("start", event)
        elapsed = (time.perf_counter() - begin) * 1000
        print(f"Start, 500 sessions x 10,000 chars: body {len(event['body']) / 1e6:.2f} MB, {elapsed:.0f} ms")
        item = clients.client("dynamodb").get_item(
            TableName=TABLE,
            Key={"pk": {"S": f"OWNER#{OWNER}"}, "sk": {"S": f"JOB#{bulky.body['batchEvaluationId']}"}},
        )["Item"]
        print(f"  DynamoDB job item: {len(str(item))} bytes (ground truth in S3)")
        stop_samples: list[float] = []
        delete_samples: list[float] = []
        listed = invoke("list", api_event("list", query={"maxResults": "100"})).body["batchEvaluations"]
        for summary in listed[: args.repeat]:
            job = summary["batchEvaluationId"]
            begin = time.perf_counter()
            invoke("stop", api_event("stop", job_id=job))
            stop_samples.append((time.perf_counter() - begin) * 1000)
            begin = time.perf_counter()
            invoke("delete", api_event("delete", job_id=job))
            delete_samples.append((time.perf_counter() - begin) * 1000)
        _report("Stop (PENDING → STOPPED)", stop_samples)
        _report("Delete (incl. S3 cleanup)", delete_samples)


if __name__ == "__main__":
    main()
