"""`batcheval.client()`: the stock boto3 `bedrock-agentcore` client, signed for API Gateway.

API Gateway's IAM auth only accepts signatures scoped to `execute-api`, while boto3 signs this
service as `bedrock-agentcore`. One `before-sign` hook changes the signing name and nothing else,
so existing AgentCore code moves over by changing the line that creates the client.
"""

from __future__ import annotations

from typing import Any

API_GATEWAY_SIGNING_NAME = "execute-api"
DEFAULT_REGION = "us-east-1"


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
        The botocore client (typed `Any`: boto3-stubs has no package for this service here).
    """
    # Imported here: `import batcheval` re-exports this function and must stay cheap (CLI start-up).
    import boto3

    session: boto3.Session = boto3_kwargs.pop("session", None) or boto3.Session()
    region = boto3_kwargs.pop("region_name", None) or session.region_name or DEFAULT_REGION
    agentcore = session.client(
        "bedrock-agentcore",
        endpoint_url=endpoint_url,
        region_name=region,
        **boto3_kwargs,
    )
    agentcore.meta.events.register("before-sign.bedrock-agentcore.*", _sign_for_api_gateway)
    return agentcore


def _sign_for_api_gateway(request: Any, **_: Any) -> None:
    request.context.setdefault("signing", {})["signing_name"] = API_GATEWAY_SIGNING_NAME
