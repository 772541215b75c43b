"""Test helper: sign a raw HTTP request with SigV4 at a chosen time (botocore's signer, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def sign(
    method: str,
    url: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    access_key: str = "test",
    secret_key: str = "test",
    service: str = "execute-api",
    region: str = "us-east-1",
    when: datetime | None = None,
    token: str | None = None,
) -> list[tuple[str, str]]:
    """Headers (Host, X-Amz-Date, Authorization, given ones) of `method url` signed at `when`."""
    moment = (when or datetime.now(UTC)).astimezone(UTC)
    request = AWSRequest(method=method, url=url, data=body)
    request.headers["Host"] = urlsplit(url).netloc
    request.headers["X-Amz-Date"] = moment.strftime("%Y%m%dT%H%M%SZ")
    if token is not None:
        request.headers["X-Amz-Security-Token"] = token
    for name, value in (headers or {}).items():
        request.headers[name] = value
    request.context["timestamp"] = moment.strftime("%Y%m%dT%H%M%SZ")
    signer = SigV4Auth(Credentials(access_key, secret_key, token), service, region)
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signed = signer.signed_headers(signer.headers_to_sign(request))
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={signer.scope(request)}, SignedHeaders={signed}, Signature={signature}"
    )
    return [*request.headers.items(), ("Authorization", authorization)]
