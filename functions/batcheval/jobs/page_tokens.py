"""List pagination tokens: opaque, bound to the owner, impossible to forge.

The position is encrypted with KMS under an encryption context naming the owner, so another
tenant's token (or a modified one) fails to decrypt and is answered with a ValidationException.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

import msgspec
from botocore.exceptions import ClientError

from batcheval.errors import FieldIssue, ValidationError

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

# The ciphertext is caller-supplied: a modified one can also name a key we may not use (AccessDenied).
_UNDECRYPTABLE = {
    "InvalidCiphertextException",
    "IncorrectKeyException",
    "AccessDeniedException",
    "ValidationException",
}


def _context(owner: str) -> dict[str, str]:
    return {"batcheval:purpose": "list-page", "batcheval:owner": owner}


def _invalid() -> ValidationError:
    message = "The nextToken is invalid or was issued to another caller."
    return ValidationError(message, fields=[FieldIssue("nextToken", message)])


class PageTokenCodec:
    def __init__(self, kms: KMSClient, key_arn: str) -> None:
        self._kms = kms
        self._key = key_arn

    def encode(self, owner: str, position: dict[str, str]) -> str:
        blob = self._kms.encrypt(
            KeyId=self._key, Plaintext=msgspec.json.encode(position), EncryptionContext=_context(owner)
        )["CiphertextBlob"]
        return base64.urlsafe_b64encode(blob).decode().rstrip("=")

    def decode(self, owner: str, token: str) -> dict[str, str]:
        try:
            blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as error:
            raise _invalid() from error
        if not blob:
            raise _invalid()
        try:
            plaintext = self._kms.decrypt(
                CiphertextBlob=blob, KeyId=self._key, EncryptionContext=_context(owner)
            )["Plaintext"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _UNDECRYPTABLE:
                raise _invalid() from error
            raise
        position = msgspec.json.decode(plaintext)
        if not (isinstance(position, dict) and all(isinstance(v, str) for v in position.values())):
            raise _invalid()
        return position
