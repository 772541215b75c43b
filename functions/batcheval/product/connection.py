"""How the job commands reach an API: `--endpoint-url` (or the local server), profile, region, credentials.

Credentials come from the standard AWS chain (environment, `--profile`, SSO, instance roles...).
Without `--endpoint-url` (or `BATCHEVAL_ENDPOINT_URL`) the commands talk to `batcheval serve` on
this machine; when the chain has no credentials at all, that local server's built-in tenant
(`test` / `test`) is used, and said so.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from batcheval.local.server import DEFAULT_PORT
from batcheval.local.sigv4 import DEFAULT_TENANT
from batcheval.product.output import note

ENDPOINT_ENV = "BATCHEVAL_ENDPOINT_URL"
LOCAL_ENDPOINT = f"http://127.0.0.1:{DEFAULT_PORT}"


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--endpoint-url",
        default=os.environ.get(ENDPOINT_ENV),
        help=f"the batcheval API (a deployed stage URL); default ${ENDPOINT_ENV}, else the local server "
        f"{LOCAL_ENDPOINT}",
    )
    group.add_argument("--profile", help="AWS profile for credentials and region (standard credential chain)")
    group.add_argument("--region", help="the API's region (default: the profile's, else us-east-1)")


def make_client(args: argparse.Namespace) -> Any:
    """The stock `bedrock-agentcore` client, signed for API Gateway, with batcheval's extensions."""
    import boto3

    from batcheval.sdk import client

    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    endpoint = args.endpoint_url or LOCAL_ENDPOINT
    extra: dict[str, Any] = {}
    if args.endpoint_url is None and session.get_credentials() is None:
        tenant = DEFAULT_TENANT.access_key
        note(f"batcheval: no AWS credentials found; using the local server's tenant {tenant!r}")
        extra = {
            "aws_access_key_id": DEFAULT_TENANT.access_key,
            "aws_secret_access_key": DEFAULT_TENANT.secret_key,
        }
    return client(endpoint, session=session, **extra)
