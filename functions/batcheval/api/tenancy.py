"""The tenant of a request: the caller's AWS account, as API Gateway's IAM authorizer reports it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from batcheval.errors import AccessDeniedError

_ACCOUNT = re.compile(r"[0-9]{12}")


def owner_from_event(event: Mapping[str, Any]) -> str:
    """`requestContext.identity.accountId`; missing → AccessDenied.

    Never `requestContext.accountId`: that is the account owning the API, so falling back to it
    would make every caller without an IAM identity (a misconfigured authorizer) the operator's tenant.
    """
    context = event.get("requestContext") or {}
    identity = context.get("identity") or {}
    account = identity.get("accountId")
    if not isinstance(account, str) or not _ACCOUNT.fullmatch(account):
        raise AccessDeniedError(
            "The request has no caller AWS account; sign it with AWS credentials (SigV4)."
        )
    return account
