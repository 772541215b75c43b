"""`batcheval.client()` and `batcheval.install()`: the stock boto3 `bedrock-agentcore` client for batcheval.

API Gateway's IAM auth only accepts signatures scoped to `execute-api`, while boto3 signs this
service as `bedrock-agentcore`. One `before-sign` hook changes the signing name and nothing else,
so existing AgentCore code moves over by changing the line that creates the client.

batcheval's additive extensions (the `RetryFailedBatchEvaluation` operation, `resultsExport` and
`extendedStatistics` in responses) ship as a botocore *sdk-extras* file merged into the stock
service model (`botocore_data/`): the stock client then sends and parses them like any modeled
member, while a client without it keeps working and simply ignores them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

API_GATEWAY_SIGNING_NAME = "execute-api"
DEFAULT_REGION = "us-east-1"
ENDPOINT_ENV = "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"
"""boto3's standard per-service endpoint variable; the official SDK's clients honour it."""
MODEL_EXTRAS_PATH = str(Path(__file__).with_name("botocore_data"))
_AWS_AGENTCORE_HOST = re.compile(
    r"^bedrock-agentcore(-fips)?\.[a-z0-9-]+\.(amazonaws\.com|amazonaws\.com\.cn|api\.aws)$"
)


def client(endpoint_url: str, **boto3_kwargs: Any) -> Any:
    """A `boto3.client("bedrock-agentcore")` for a batcheval API.

    Args:
        endpoint_url: the API's base URL, e.g. `https://abc123.execute-api.eu-west-1.amazonaws.com/prod`
            or the local server's `http://127.0.0.1:8787`.
        **boto3_kwargs: passed to `boto3.client` (credentials, `config`, ...). `session=` takes a
            `boto3.Session` to create the client from. `region_name` defaults to the session's
            region, else us-east-1; it must be the API's region (a deployed stack's, or the local server's
            `--region`): a signature for another region is refused, as API Gateway does.

    Returns:
        The botocore client (typed `Any`: boto3-stubs has no package for this service here), with
        batcheval's extensions: `retry_failed_batch_evaluation(batchEvaluationId=...)`, and
        `resultsExport` / `extendedStatistics` kept in Get responses.
    """
    # Imported here: `import batcheval` re-exports this function and must stay cheap (CLI start-up).
    import boto3

    session: boto3.Session = boto3_kwargs.pop("session", None) or boto3.Session()
    add_model_extensions(session)
    region = boto3_kwargs.pop("region_name", None) or session.region_name or DEFAULT_REGION
    agentcore = session.client(
        "bedrock-agentcore",
        endpoint_url=endpoint_url,
        region_name=region,
        **boto3_kwargs,
    )
    agentcore.meta.events.register("before-sign.bedrock-agentcore.*", _sign_for_api_gateway)
    return agentcore


def install(endpoint_url: str | None = None) -> None:
    """Point every `bedrock-agentcore` client created from now on at batcheval (one line for old code).

    For code that creates its own clients, such as the official AgentCore SDK
    (`EvaluationClient`, `BatchEvaluationRunner`): sets boto3's standard `AWS_ENDPOINT_URL_BEDROCK_AGENTCORE`
    (unless `endpoint_url` is None and it is already set), adds batcheval's model extensions, and signs
    requests to any host other than AWS's own AgentCore endpoints for `execute-api`, on the default
    boto3 session and on every botocore session created afterwards. Call it before creating clients.
    """
    import boto3
    import botocore.handlers

    if endpoint_url is not None:
        os.environ[ENDPOINT_ENV] = endpoint_url
    elif not os.environ.get(ENDPOINT_ENV):
        raise ValueError(f"batcheval.install() needs endpoint_url= or {ENDPOINT_ENV} in the environment")
    paths = os.environ.get("AWS_DATA_PATH", "").split(os.pathsep)
    if MODEL_EXTRAS_PATH not in paths:
        os.environ["AWS_DATA_PATH"] = os.pathsep.join([MODEL_EXTRAS_PATH, *filter(None, paths)])
    handler = ("before-sign.bedrock-agentcore", sign_custom_endpoints_for_api_gateway)
    if handler not in botocore.handlers.BUILTIN_HANDLERS:
        botocore.handlers.BUILTIN_HANDLERS.append(handler)  # every botocore session created from now on
    if boto3.DEFAULT_SESSION is not None:
        add_model_extensions(boto3.DEFAULT_SESSION)
        boto3.DEFAULT_SESSION.events.register(
            "before-sign.bedrock-agentcore",
            sign_custom_endpoints_for_api_gateway,
            unique_id="batcheval-sign-for-api-gateway",
        )


def add_model_extensions(session: Any) -> None:
    """Let `session` (boto3 or botocore) load batcheval's sdk-extras with the AgentCore model.

    The session gets a new data loader searching batcheval's path first: the old one may already
    have cached the stock model, which clients created from now on must not reuse.
    """
    from botocore.loaders import Loader

    core = getattr(session, "_session", session)  # boto3.Session wraps a botocore session
    loader = core.get_component("data_loader")
    if MODEL_EXTRAS_PATH in loader.search_paths:
        return
    core.register_component(
        "data_loader",
        Loader(
            extra_search_paths=[MODEL_EXTRAS_PATH, *loader.search_paths], include_default_search_paths=False
        ),
    )


def _sign_for_api_gateway(request: Any, **_: Any) -> None:
    request.context.setdefault("signing", {})["signing_name"] = API_GATEWAY_SIGNING_NAME


def sign_custom_endpoints_for_api_gateway(request: Any, **_: Any) -> None:
    """Sign for `execute-api` unless the request goes to AWS's own AgentCore (which wants its own name)."""
    from urllib.parse import urlsplit

    if not _AWS_AGENTCORE_HOST.match(urlsplit(request.url).hostname or ""):
        _sign_for_api_gateway(request)
