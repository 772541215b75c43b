"""`batcheval serve` and `batcheval demo`: the local API server on the embedded emulator (or on AWS).

`demo` is the same server plus one whole sample batch evaluation (`batcheval.product.demo`).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from batcheval.errors import DomainError, ValidationError
from batcheval.judges.base import Judge
from batcheval.local.backend import (
    DEFAULT_BUCKET_NAME,
    DEFAULT_TABLE_NAME,
    Backend,
    connect_backend,
    handler_environment,
)
from batcheval.local.gateway import LocalGateway
from batcheval.local.judge import local_judge
from batcheval.local.orchestrator import LocalOrchestrator
from batcheval.local.proxy import ApiIdentity
from batcheval.local.server import DEFAULT_PORT, LocalApiServer
from batcheval.local.sigv4 import DEFAULT_TENANT, Tenant, TenantRegistry
from batcheval.local.span_loader import DEFAULT_LOG_GROUP, load_spans
from batcheval.local.throttle import TokenBucket
from batcheval.product.demo import add_demo_options, judge_environment
from batcheval.product.demo import run_demo as run_demo_job


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser(
        "serve",
        help="run the job API locally (SigV4, stock boto3 client) on the embedded AWS emulator",
        description="Run the job API on 127.0.0.1 in front of the real handlers. By default the handlers "
        "use an embedded AWS emulator (moto) started in this process; --aws or --endpoint-url use "
        "existing resources instead.",
    )
    _add_server_options(serve)
    serve.set_defaults(handler=run_serve)

    demo = sub.add_parser(
        "demo",
        help="run a whole sample batch evaluation locally and report it (finishes on its own)",
        description="Start the local API on the embedded AWS emulator, write realistic sample agent sessions "
        "into its CloudWatch Logs, run a batch evaluation on them through the stock boto3 client with a "
        "progress bar, then print the statistics and worst sessions and write the per-session results and "
        "the HTML / Markdown reports. --serve keeps the API up afterwards.",
    )
    _add_server_options(demo)
    add_demo_options(demo)
    demo.set_defaults(handler=run_demo)


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help="API port (default 8787; 0 = any free)"
    )
    parser.add_argument(
        "--tenant",
        action="append",
        default=[],
        metavar="ACCESS_KEY:SECRET:ACCOUNT_ID",
        help="accept these credentials as that AWS account (repeatable); test:test:123456789012 always works",
    )
    parser.add_argument(
        "--region", default="us-east-1", help="AWS region of the resources (default us-east-1)"
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--aws",
        action="store_true",
        help="use real AWS (default credential chain) instead of the embedded emulator",
    )
    target.add_argument("--endpoint-url", help="use an AWS-compatible endpoint you run (e.g. moto_server)")
    parser.add_argument("--jobs-table", default=DEFAULT_TABLE_NAME, help="DynamoDB job table name")
    parser.add_argument(
        "--payload-bucket", default=DEFAULT_BUCKET_NAME, help="S3 bucket for request payloads"
    )
    parser.add_argument("--kms-key-arn", help="the stack KMS key (required with --aws/--endpoint-url)")
    parser.add_argument(
        "--create-resources",
        action="store_true",
        help="with --aws/--endpoint-url: create missing table and bucket (and a KMS key if none is given)",
    )
    parser.add_argument(
        "--emulator-port", type=_port, default=0, help="embedded emulator port (default: any free)"
    )
    parser.add_argument("--max-active-jobs", type=int, help="quota: active jobs per account")
    parser.add_argument("--max-stored-jobs", type=int, help="quota: stored jobs per account")
    parser.add_argument(
        "--allow-account",
        action="append",
        metavar="ACCOUNT_ID",
        help="resource policy: only these tenant accounts may call (repeatable; default: every tenant)",
    )
    parser.add_argument("--rate-limit", type=float, help="stage throttling: steady requests per second")
    parser.add_argument(
        "--burst-limit", type=int, help="stage throttling: burst size (default: the rate, min 1)"
    )
    parser.add_argument(
        "--judge",
        metavar="bedrock|openai:URL",
        help="judge for LLM evaluators: bedrock (real AWS: standard credential chain, AWS_PROFILE, "
        "AWS_REGION; the rest stays on the emulator) or an OpenAI-compatible server; without one their "
        "results are JudgeNotConfigured errors",
    )
    parser.add_argument("--model", metavar="MODEL_ID", help="judge model id (with --judge)")
    parser.add_argument("--quiet", action="store_true", help="log warnings only (no request log)")
    parser.add_argument(
        "--load-spans",
        action=_LoadSpans,
        default=[],
        metavar="FILE",
        help="write the spans of FILE (as `batcheval inspect` reads it) into the emulated CloudWatch Logs "
        "before serving; times older than 14 days are shifted (repeatable)",
    )
    parser.add_argument(
        "--log-group",
        action=_LogGroup,
        metavar="NAME",
        help=f"log group of the preceding --load-spans FILE (default {DEFAULT_LOG_GROUP})",
    )


class _LoadSpans(argparse.Action):
    """`--load-spans FILE`: one more file to load, into the default group until a --log-group follows."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        loads = list(getattr(namespace, self.dest) or [])
        loads.append(SpanLoad(Path(values), DEFAULT_LOG_GROUP))
        setattr(namespace, self.dest, loads)


class _LogGroup(argparse.Action):
    """`--log-group NAME`: the log group of the --load-spans FILE just before it."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        loads = list(getattr(namespace, "load_spans", None) or [])
        if not loads:
            parser.error("--log-group names the log group of a preceding --load-spans FILE")
        loads[-1] = replace(loads[-1], log_group=values)
        namespace.load_spans = loads


@dataclass(frozen=True)
class SpanLoad:
    path: Path
    log_group: str


def _port(text: str) -> int:
    """A TCP port; checked while parsing, before the emulator starts, so a typo is a usage error."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, got {text!r}")
    return port


def run_serve(args: argparse.Namespace) -> int:
    return _run(args, demo=False)


def run_demo(args: argparse.Namespace) -> int:
    return _run(args, demo=True)


def _run(args: argparse.Namespace, *, demo: bool) -> int:
    # The demo's console is for its story: request and handler logs only with --verbose.
    quiet = args.quiet or (demo and not args.verbose)
    out = sys.stderr if demo and args.json else sys.stdout  # `demo --json`: stdout holds the JSON only
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        # Check every option before starting anything.
        tenants = _tenants(args.tenant)
        allowed = _allowed_accounts(args.allow_account)
        throttle = _throttle(args.rate_limit, args.burst_limit)
        judge = _judge_for(args)  # no credentials for Bedrock: said before anything runs
        if args.load_spans and args.aws:
            raise ValidationError("--load-spans writes into an emulated CloudWatch Logs; not with --aws")
        with ExitStack() as stack:
            backend = stack.enter_context(_backend(args))
            env = backend.handler_environment(
                max_active_jobs=args.max_active_jobs, max_stored_jobs=args.max_stored_jobs
            )
            if backend.embedded:  # moto's Logs Insights has no query engine: discover with FilterLogEvents
                env.setdefault("BATCHEVAL_DISCOVERY", os.environ.get("BATCHEVAL_DISCOVERY", "filter"))
            if quiet:
                env.setdefault("POWERTOOLS_LOG_LEVEL", os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"))
            env.update(judge_environment(args))
            stack.enter_context(handler_environment(env))
            if judge is not None:
                _use_judge(judge)
            orchestrator = _use_local_orchestration(backend, stack)
            for load in args.load_spans:
                _load_spans(backend, load)
            gateway = LocalGateway(
                tenants,
                api=ApiIdentity(account_id=_account_of(backend.kms_key_arn)),
                region=backend.region,
                allowed_accounts=allowed,
                throttle=throttle,
            )
            try:
                server = stack.enter_context(LocalApiServer(gateway, port=args.port))
            except OSError as exc:
                print(f"batcheval: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}", file=sys.stderr)
                return 1
            stop = threading.Event()
            stack.enter_context(_stop_on_signals(stop))
            print(_ready_banner(server.url, backend, tenants, demo=demo), file=out, flush=True)
            if demo:
                if not backend.embedded:
                    raise ValidationError("the demo writes sample sessions into the embedded emulator")
                code = run_demo_job(server.url, backend, args, out, run_over=_run_over(orchestrator))
                if code != 0 or not args.serve:
                    return code
                print("\nThe API stays up for exploring (--serve); Ctrl-C stops.", file=out, flush=True)
            _wait(stop)
            print("\nbatcheval: stopping", flush=True)
        return 0
    except DomainError as exc:
        print(f"batcheval: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C while starting up
        print("\nbatcheval: interrupted", file=sys.stderr)
        return 130


def _use_local_orchestration(backend: Backend, stack: ExitStack) -> LocalOrchestrator:
    """Jobs started through the local API run here: the state machine's flow on the step handlers."""
    from batcheval.api import dependencies
    from batcheval.api.settings import ApiSettings

    orchestrator = LocalOrchestrator(backend.clients, account_id=_account_of(backend.kms_key_arn))
    service = dependencies.build_service(
        ApiSettings.from_env(), starter=orchestrator, clients=backend.clients
    )
    dependencies.use(service)
    stack.callback(orchestrator.close)  # at shutdown: stop live runs, let them finalize
    return orchestrator


def _judge_for(args: argparse.Namespace) -> Judge | None:
    """The local run's judge; None with --aws and no --judge: the handlers' own (as in Lambda)."""
    if args.aws and args.judge is None:
        return None
    return local_judge(args.judge, args.model)


def _use_judge(judge: Judge) -> None:
    """The pipeline's runtime, as its handlers would build it, but with the local run's judge."""
    from batcheval.pipeline import runtime
    from batcheval.pipeline.settings import PipelineSettings

    runtime.use(runtime.build_runtime(PipelineSettings.from_env(), judge=judge))


def _run_over(orchestrator: LocalOrchestrator) -> Callable[[str], bool]:
    """Whether the local run of the default tenant's job has ended (its last write is then visible)."""

    def over(job_id: str) -> bool:
        run = orchestrator.run_of(DEFAULT_TENANT.account_id, job_id)
        return run is not None and run.done.is_set()

    return over


def _load_spans(backend: Backend, load: SpanLoad) -> None:
    report = load_spans(
        backend.clients.client("logs"), load.path, now_ns=time.time_ns(), log_group=load.log_group
    )
    print(report.describe(), flush=True)


def _tenants(specs: list[str]) -> TenantRegistry:
    by_key = {DEFAULT_TENANT.access_key: DEFAULT_TENANT}
    for spec in specs:
        tenant = Tenant.parse(spec)
        by_key[tenant.access_key] = tenant
    return TenantRegistry(by_key.values())


def _allowed_accounts(accounts: list[str] | None) -> frozenset[str] | None:
    if not accounts:
        return None
    bad = [account for account in accounts if not (len(account) == 12 and account.isdigit())]
    if bad:
        raise ValidationError(f"--allow-account needs 12-digit account ids, got {bad}")
    return frozenset(accounts)


def _throttle(rate: float | None, burst: int | None) -> TokenBucket | None:
    if rate is None:
        if burst is not None:
            raise ValidationError("--burst-limit needs --rate-limit")
        return None
    if rate <= 0 or (burst is not None and burst < 1):
        raise ValidationError("--rate-limit must be > 0 and --burst-limit >= 1")
    return TokenBucket(rate, burst if burst is not None else max(1, int(rate)))


@contextmanager
def _backend(args: argparse.Namespace) -> Iterator[Backend]:
    if args.aws or args.endpoint_url:
        yield connect_backend(
            region=args.region,
            endpoint_url=args.endpoint_url,
            table_name=args.jobs_table,
            bucket_name=args.payload_bucket,
            kms_key_arn=args.kms_key_arn,
            create_resources=args.create_resources,
        )
        return
    if args.kms_key_arn or args.create_resources:
        raise ValidationError("--kms-key-arn and --create-resources need --aws or --endpoint-url")
    from batcheval.local.emulator import EmbeddedEmulator  # needs the `local` extra (moto)

    with EmbeddedEmulator(
        region=args.region,
        port=args.emulator_port,
        table_name=args.jobs_table,
        bucket_name=args.payload_bucket,
    ) as backend:
        yield backend


def _account_of(arn: str) -> str:
    """The account that owns the API: the stack key's account (API Gateway's requestContext.accountId)."""
    parts = arn.split(":")
    if len(parts) < 6 or not parts[4]:
        raise ValidationError(f"not a KMS key ARN: {arn!r}")
    return parts[4]


def _ready_banner(api_url: str, backend: Backend, tenants: TenantRegistry, *, demo: bool = False) -> str:
    default = DEFAULT_TENANT
    lines = [
        "batcheval local API is ready.",
        f"  API endpoint (SigV4):    {api_url}",
    ]
    if backend.embedded:
        lines.append(f"  AWS endpoint (emulator): {backend.endpoint_url}  DynamoDB, S3, KMS, CloudWatch Logs")
    elif backend.endpoint_url:
        lines.append(f"  AWS endpoint:            {backend.endpoint_url}")
    else:
        lines.append(f"  AWS:                     real AWS, region {backend.region}")
    lines += [
        f"  job table / bucket:      {backend.table_name} / {backend.bucket_name}",
        f"  stack KMS key:           {backend.kms_key_arn}",
        "  tenants:                 "
        + ", ".join(
            f"{t.access_key} -> {t.account_id}" for t in sorted(tenants.all(), key=lambda t: t.access_key)
        ),
        "",
        "Python (stock boto3 client, signed for execute-api):",
        "  import batcheval",
        f'  client = batcheval.client(endpoint_url="{api_url}", region_name="{backend.region}",',
        f'                            aws_access_key_id="{default.access_key}", '
        f'aws_secret_access_key="{default.secret_key}")',
        "  print(client.list_batch_evaluations())",
    ]
    if backend.embedded:
        lines += [
            "",
            "Inspect or load the emulated AWS (any credentials work there):",
            "  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
            f"AWS_DEFAULT_REGION={backend.region}",
            f"  aws --endpoint-url {backend.endpoint_url} dynamodb scan --table-name {backend.table_name}",
            f'  boto3.client("logs", endpoint_url="{backend.endpoint_url}")',
        ]
    if demo:  # the demo says at its end whether the API stays up
        return "\n".join(lines[:3])
    lines += ["", "Press Ctrl-C to stop."]
    return "\n".join(lines)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Turn Ctrl-C (SIGINT) and SIGTERM into `stop.set()` while serving, so shutdown is always orderly."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed from the main thread
        return
    previous = {
        sig: signal.signal(sig, lambda signum, frame: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait(stop: threading.Event) -> None:
    while not stop.wait(0.5):
        pass
