"""Concurrent load on a running `batcheval serve`: requests/s and p50/p99 for mixed Start/Get/List.

Start the server in another process (so this client's own CPU is not measured with it), e.g.
`batcheval serve --port 8787 --max-active-jobs 1000000 --max-stored-jobs 1000000 --quiet`, then
`python -m benchmarks.local_api_load --url http://127.0.0.1:8787 --clients 20 50 --seconds 30`.
Each client is a thread with its own boto3 client (one pooled connection, no retries) looping
Start, Get (of one of its jobs), List. `--burst 50` first opens that many connections at the same
instant and counts those reset or refused (http.server's backlog of 5 used to reset most).
"""

from __future__ import annotations

import argparse
import itertools
import socket
import statistics
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

import batcheval
from batcheval.local.sigv4 import DEFAULT_TENANT

SOURCE = {"cloudWatchLogs": {"serviceNames": ["bench_agent.DEFAULT"], "logGroupNames": ["/aws/spans"]}}
EVALUATORS = [{"evaluatorId": "Builtin.Helpfulness"}]
_names = itertools.count()


def burst(url: str, connections: int) -> int:
    """Open `connections` sockets at once, send a request on each; return how many got no answer."""
    parts = urlsplit(url)
    barrier = threading.Barrier(connections)
    failed = []

    def one() -> None:
        barrier.wait()
        try:
            with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
                sock.sendall(b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if not sock.recv(12).startswith(b"HTTP/1.1"):
                    failed.append(1)
        except OSError:
            failed.append(1)

    threads = [threading.Thread(target=one) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(failed)


def _client(url: str, session: boto3.Session) -> Any:
    return batcheval.client(
        endpoint_url=url,
        session=session,
        aws_access_key_id=DEFAULT_TENANT.access_key,
        aws_secret_access_key=DEFAULT_TENANT.secret_key,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, max_pool_connections=1),
    )


def load(url: str, clients: int, seconds: float) -> None:
    session = boto3.Session()
    stop_at = time.perf_counter() + seconds
    samples: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        client = _client(url, session)
        mine: list[str] = []
        local: list[float] = []
        for step in itertools.count():
            if time.perf_counter() >= stop_at:
                break
            begin = time.perf_counter()
            try:
                if step % 3 == 0 or not mine:
                    job = client.start_batch_evaluation(
                        batchEvaluationName=f"load_{next(_names)}_{int(time.time())}",
                        dataSourceConfig=SOURCE,
                        evaluators=EVALUATORS,
                    )
                    mine.append(job["batchEvaluationId"])
                elif step % 3 == 1:
                    client.get_batch_evaluation(batchEvaluationId=mine[-1])
                else:
                    client.list_batch_evaluations(maxResults=10)
            except Exception as error:  # a benchmark counts every failure
                with lock:
                    errors.append(type(error).__name__)
                continue
            local.append((time.perf_counter() - begin) * 1000)
        with lock:
            samples.extend(local)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    ordered = sorted(samples) or [float("nan")]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"clients={clients:<3} {len(samples) / elapsed:6.1f} requests/s"
        f"  p50={statistics.median(ordered):7.1f} ms  p99={p99:7.1f} ms"
        f"  ok={len(samples)} errors={len(errors)} {sorted(set(errors))}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8787")
    parser.add_argument("--clients", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--burst", type=int, default=50)
    args = parser.parse_args()
    if args.burst:
        print(f"burst of {args.burst} simultaneous connections: {burst(args.url, args.burst)} unanswered")
    _client(args.url, boto3.Session()).list_batch_evaluations()  # cold start of the handlers
    for clients in args.clients:
        load(args.url, clients, args.seconds)


if __name__ == "__main__":
    main()
