"""End-to-end latency and throughput of the local API server, as a stock boto3 client sees it.

`python -m benchmarks.local_api [--repeat N] [--threads T]`. Each call goes through boto3 signing,
HTTP on loopback, SigV4 verification, the proxy event, the real handler and the moto server (itself
over HTTP), so it measures the whole local stack, not AWS.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config

import batcheval
from batcheval.local.backend import handler_environment
from batcheval.local.emulator import EmbeddedEmulator
from batcheval.local.gateway import LocalGateway
from batcheval.local.proxy import ApiIdentity
from batcheval.local.server import LocalApiServer
from batcheval.local.sigv4 import DEFAULT_TENANT, TenantRegistry

SOURCE = {"cloudWatchLogs": {"serviceNames": ["bench_agent.DEFAULT"], "logGroupNames": ["/aws/spans"]}}
EVALUATORS = [{"evaluatorId": "Builtin.Helpfulness"}]


def _report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    print(f"{name:<28} n={len(samples):<5} median={statistics.median(samples):7.2f} ms  p95={p95:7.2f} ms")


def _timed(fn: Callable[[int], Any], repeat: int) -> list[float]:
    samples = []
    for n in range(repeat):
        begin = time.perf_counter()
        fn(n)
        samples.append((time.perf_counter() - begin) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.WARNING)
    quotas = {"max_active_jobs": 1_000_000, "max_stored_jobs": 1_000_000}
    with (
        EmbeddedEmulator() as backend,
        handler_environment({**backend.handler_environment(**quotas), "POWERTOOLS_LOG_LEVEL": "WARNING"}),
    ):
        gateway = LocalGateway(TenantRegistry([DEFAULT_TENANT]), api=ApiIdentity(DEFAULT_TENANT.account_id))
        with LocalApiServer(gateway, port=0) as server:
            client = batcheval.client(
                endpoint_url=server.url,
                session=boto3.Session(),
                aws_access_key_id=DEFAULT_TENANT.access_key,
                aws_secret_access_key=DEFAULT_TENANT.secret_key,
                config=Config(max_pool_connections=args.threads * 2),
            )
            client.list_batch_evaluations()  # cold start of the handlers
            ids: list[str] = []

            def start(n: int) -> None:
                job = client.start_batch_evaluation(
                    batchEvaluationName=f"bench_{n}", dataSourceConfig=SOURCE, evaluators=EVALUATORS
                )
                ids.append(job["batchEvaluationId"])

            _report("StartBatchEvaluation", _timed(start, args.repeat))
            _report(
                "GetBatchEvaluation",
                _timed(lambda n: client.get_batch_evaluation(batchEvaluationId=ids[n]), args.repeat),
            )
            _report(
                "ListBatchEvaluations (10)", _timed(lambda n: client.list_batch_evaluations(), args.repeat)
            )
            _report(
                "StopBatchEvaluation",
                _timed(lambda n: client.stop_batch_evaluation(batchEvaluationId=ids[n]), args.repeat),
            )
            _report(
                "DeleteBatchEvaluation",
                _timed(lambda n: client.delete_batch_evaluation(batchEvaluationId=ids[n]), args.repeat),
            )

            calls = args.repeat * 4
            begin = time.perf_counter()
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(lambda n: client.list_batch_evaluations(maxResults=5), range(calls)))
            elapsed = time.perf_counter() - begin
            print(f"List with {args.threads} threads: {calls / elapsed:7.1f} requests/s ({calls} calls)")


if __name__ == "__main__":
    main()
