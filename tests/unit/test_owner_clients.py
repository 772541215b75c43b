from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from batcheval.aws import ROLE_SESSION_NAME, AwsClients, CallerAccess, OwnerClients
from batcheval.errors import CallerRoleError

SERVICE = "123456789012"
OWNER = "111111111111"
ROLE_ARN = f"arn:aws:iam::{OWNER}:role/batcheval-caller-access"


class Clock:
    """An injectable clock: real time plus a chosen offset."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def own() -> Iterator[AwsClients]:
    with mock_aws():
        yield AwsClients(region="us-east-1")


def _record_assume_role(clients: AwsClients) -> list[dict[str, Any]]:
    """Every AssumeRole the service's own STS client sends, with its parameters."""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_kwargs: Any) -> None:
        calls.append(dict(params))

    clients.client("sts").meta.events.register("provide-client-params.sts.AssumeRole", record)
    return calls


def test_the_service_account_gets_its_own_clients_without_sts(own):
    # Given OwnerClients for the service account
    calls = _record_assume_role(own)
    owners = OwnerClients(own, CallerAccess(service_account=SERVICE))
    # When clients are asked for a job the service account owns
    clients = owners.clients_for(SERVICE)
    # Then they are the service's own clients and no role was assumed
    assert clients is own
    assert calls == []


def test_another_account_gets_clients_on_the_assumed_role(own):
    # Given OwnerClients with a configured ExternalId
    calls = _record_assume_role(own)
    owners = OwnerClients(own, CallerAccess(service_account=SERVICE, external_id="ext-42"))
    # When clients are asked for another account and used
    clients = owners.clients_for(OWNER)
    identity = clients.client("sts").get_caller_identity()
    clients.client("s3").create_bucket(Bucket="owner-data")
    # Then they act as the caller-access role in that account, assumed with the ExternalId
    assert identity["Account"] == OWNER
    assert identity["Arn"] == f"arn:aws:sts::{OWNER}:assumed-role/batcheval-caller-access/{ROLE_SESSION_NAME}"
    assert calls == [
        {
            "RoleArn": ROLE_ARN,
            "RoleSessionName": ROLE_SESSION_NAME,
            "ExternalId": "ext-42",
            "DurationSeconds": 3600,
        }
    ]
    # And what they create lives in the owner's account, not the service's
    assert [b["Name"] for b in clients.client("s3").list_buckets()["Buckets"]] == ["owner-data"]
    assert own.client("s3").list_buckets()["Buckets"] == []


def test_clients_are_cached_per_owner(own):
    # Given OwnerClients
    calls = _record_assume_role(own)
    owners = OwnerClients(own, CallerAccess(service_account=SERVICE))
    # When the same owner is asked for twice and another owner once
    first = owners.clients_for(OWNER)
    second = owners.clients_for(OWNER)
    other = owners.clients_for("222222222222")
    # Then the first owner's clients are reused (one AssumeRole each owner)
    assert first is second
    assert other is not first
    assert [c["RoleArn"] for c in calls] == [
        ROLE_ARN,
        "arn:aws:iam::222222222222:role/batcheval-caller-access",
    ]


def test_credentials_are_refreshed_before_they_expire(own):
    # Given clients on a one-hour role session and a clock we move
    clock = Clock()
    calls = _record_assume_role(own)
    clients = OwnerClients(own, CallerAccess(service_account=SERVICE), clock=clock).clients_for(OWNER)
    # When used 30 minutes in, Then the session is still used as is
    clock.offset = timedelta(minutes=30)
    clients.client("sts").get_caller_identity()
    assert len(calls) == 1
    # When used 55 minutes in (5 minutes before expiry), Then the role is assumed again first
    clock.offset = timedelta(minutes=55)
    identity = clients.client("sts").get_caller_identity()
    assert len(calls) == 2
    assert identity["Account"] == OWNER


@pytest.mark.parametrize(
    ("code", "cause"),
    [
        ("AccessDenied", "the role does not exist, its trust policy does not allow this service"),
        ("RegionDisabledException", "STS is not activated in this Region"),
    ],
)
def test_a_missing_or_refusing_role_says_exactly_what_to_deploy(own, code, cause):
    # Given STS refuses the role (AWS answers AccessDenied for a missing role, a trust policy without
    # the service, and a wrong ExternalId alike; moto enforces none of these, so it is stubbed)
    access = CallerAccess(service_account=SERVICE, external_id="batcheval-ext")
    owners = OwnerClients(own, access)
    internal = (
        "User: arn:aws:sts::123456789012:assumed-role/batcheval-ScoreBatchRole-XYZ/fn is not authorized"
    )
    with Stubber(own.client("sts")) as stub:
        stub.add_client_error(
            "assume_role", service_error_code=code, service_message=internal, http_status_code=403
        )
        # When clients are asked for the owner
        with pytest.raises(CallerRoleError) as raised:
            owners.clients_for(OWNER)
    # Then the domain error names the role, the account, the trusted principal and the ExternalId
    message = raised.value.message
    assert message.startswith(f"Cannot access account {OWNER}: the role {ROLE_ARN} could not be assumed")
    assert cause in message
    assert f"Deploy a role named batcheval-caller-access in account {OWNER}" in message
    assert f"arn:aws:iam::{SERVICE}:root" in message
    assert 'sts:ExternalId "batcheval-ext"' in message
    # And nothing internal or a traceback: no STS text, no chained exception, within errorDetails' 1,000
    assert "ScoreBatchRole" not in message
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__
    assert len(message) <= 1000


def test_a_refusal_is_not_cached(own):
    # Given a first AssumeRole refused, then the role deployed
    owners = OwnerClients(own, CallerAccess(service_account=SERVICE))
    with Stubber(own.client("sts")) as stub:
        stub.add_client_error("assume_role", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(CallerRoleError):
            owners.clients_for(OWNER)
    # When asked again, Then the role is assumed
    assert owners.clients_for(OWNER).client("sts").get_caller_identity()["Account"] == OWNER


def test_other_sts_faults_propagate_for_the_platform_to_retry(own):
    # Given STS throttles
    owners = OwnerClients(own, CallerAccess(service_account=SERVICE))
    with Stubber(own.client("sts")) as stub:
        stub.add_client_error("assume_role", service_error_code="Throttling", http_status_code=400)
        # When clients are asked for, Then the AWS error propagates (a retryable infrastructure fault)
        with pytest.raises(ClientError, match="Throttling"):
            owners.clients_for(OWNER)


def test_settings_from_the_environment():
    # Given only the service account, Then the documented defaults
    access = CallerAccess.from_env({"BATCHEVAL_SERVICE_ACCOUNT_ID": SERVICE})
    assert access.role_name == "batcheval-caller-access"
    assert access.effective_external_id == f"batcheval-{SERVICE}"
    assert access.role_arn(OWNER) == ROLE_ARN
    # Given every variable, Then each is used
    access = CallerAccess.from_env(
        {
            "BATCHEVAL_SERVICE_ACCOUNT_ID": SERVICE,
            "BATCHEVAL_CALLER_ROLE_NAME": "my-access",
            "BATCHEVAL_CALLER_EXTERNAL_ID": "xyz",
            "BATCHEVAL_PARTITION": "aws-cn",
        }
    )
    assert (access.effective_external_id, access.role_arn(OWNER)) == (
        "xyz",
        f"arn:aws-cn:iam::{OWNER}:role/my-access",
    )
    # Given no service account, Then a startup error
    with pytest.raises(ValueError, match="BATCHEVAL_SERVICE_ACCOUNT_ID"):
        CallerAccess.from_env({})


def test_an_owner_that_is_not_an_account_id_is_refused(own):
    # Given OwnerClients, When asked for a malformed owner, Then refused before any STS call
    with pytest.raises(ValueError, match="12-digit"):
        OwnerClients(own, CallerAccess(service_account=SERVICE)).clients_for("alice")
