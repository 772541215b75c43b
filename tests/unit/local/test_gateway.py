import json
from datetime import UTC, datetime

import pytest

from batcheval.local.gateway import LocalGateway
from batcheval.local.messages import HttpRequest
from batcheval.local.proxy import ApiIdentity
from batcheval.local.sigv4 import Tenant, TenantRegistry
from batcheval.local.throttle import TokenBucket
from tests.unit.local.signing import sign

NOW = datetime(2026, 11, 26, 7, 0, 0, tzinfo=UTC)
HOST = "127.0.0.1:8787"
ALICE = Tenant("AKALICE", "alice-secret", "111111111111")


class Recorder:
    """A fake handler that records events and answers what it is told."""

    def __init__(self, result=None, error=None):
        self.events = []
        self.contexts = []
        self.result = result if result is not None else {"statusCode": 200, "body": "{}"}
        self.error = error

    def __call__(self, event, context):
        self.events.append(event)
        self.contexts.append(context)
        if self.error is not None:
            raise self.error
        return self.result


def _gateway(handler, **kwargs):
    return LocalGateway(
        TenantRegistry([ALICE]),
        api=ApiIdentity(account_id="999999999999"),
        resolve_handler=lambda route: handler,
        clock=lambda: NOW,
        **kwargs,
    )


def _signed(method, path, body=b"", **kwargs):
    headers = sign(
        method,
        f"http://{HOST}{path}",
        body=body,
        access_key="AKALICE",
        secret_key="alice-secret",
        when=NOW,
        **kwargs,
    )
    return HttpRequest(method, path, "", headers, body)


def test_a_signed_request_reaches_its_handler_with_a_lambda_context():
    # Given a gateway whose handlers record what they get
    handler = Recorder({"statusCode": 202, "body": '{"status":"PENDING"}'})
    gateway = _gateway(handler)
    # When Alice starts a job
    response = gateway.handle(_signed("POST", "/evaluations/batch-evaluate", b"{}"))
    # Then the handler saw her identity, and the HTTP answer is the handler's
    assert response.status == 202
    assert json.loads(response.body) == {"status": "PENDING"}
    event = handler.events[0]
    assert event["requestContext"]["identity"]["accountId"] == "111111111111"
    assert event["body"] == "{}"
    context = handler.contexts[0]
    assert context.function_name == "batcheval-StartBatchEvaluation"
    assert context.invoked_function_arn == (
        "arn:aws:lambda:us-east-1:999999999999:function:batcheval-StartBatchEvaluation"
    )
    assert 0 < context.get_remaining_time_in_millis() <= 29_000
    assert response.header("x-amzn-RequestId") == event["requestContext"]["requestId"]


def _error(response):
    return response.status, response.header("x-amzn-ErrorType"), json.loads(response.body)["message"]


def test_unknown_routes_answer_missing_authentication_token_even_when_signed():
    handler = Recorder()
    response = _gateway(handler).handle(_signed("GET", "/nope"))
    assert _error(response) == (403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    assert handler.events == []


def test_unsigned_requests_never_reach_a_handler():
    handler = Recorder()
    response = _gateway(handler).handle(
        HttpRequest("GET", "/evaluations/batch-evaluate", "", [("Host", HOST)], b"")
    )
    assert _error(response) == (403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    assert handler.events == []


def test_a_bad_signature_never_reaches_a_handler():
    handler = Recorder()
    request = _signed("POST", "/evaluations/batch-evaluate", b"{}")
    tampered = HttpRequest(request.method, request.raw_path, "", request.headers, b'{"x":1}')
    status, error_type, _ = _error(_gateway(handler).handle(tampered))
    assert (status, error_type) == (403, "InvalidSignatureException")
    assert handler.events == []


@pytest.mark.parametrize(
    "failure",
    [
        {"error": RuntimeError("secret internal detail /var/task/x.py")},
        {"result": {"statusCode": "nope", "body": "secret internal detail"}},
        {"result": ["secret internal detail"]},
    ],
)
def test_handler_failures_become_a_bare_internal_server_error(failure, caplog):
    # Given a handler that crashes or answers garbage
    gateway = _gateway(Recorder(**failure))
    # When it is called
    response = gateway.handle(_signed("GET", "/evaluations/batch-evaluate"))
    # Then the caller gets a 500 with no detail, and the server log has it
    assert _error(response) == (500, "InternalServerException", "Internal server error")
    assert b"secret" not in response.body
    assert any(r.levelname == "ERROR" and "ListBatchEvaluations" in r.getMessage() for r in caplog.records)


def test_a_handler_that_cannot_be_imported_is_an_internal_error():
    def missing(route):
        raise ModuleNotFoundError(route.operation)

    gateway = LocalGateway(
        TenantRegistry([ALICE]), api=ApiIdentity("999999999999"), resolve_handler=missing, clock=lambda: NOW
    )
    assert _error(gateway.handle(_signed("GET", "/evaluations/batch-evaluate")))[0] == 500


def test_bodies_over_the_limit_are_refused_before_anything_else():
    handler = Recorder()
    response = _gateway(handler, max_body_bytes=10).handle(
        _signed("POST", "/evaluations/batch-evaluate", b"x" * 11)
    )
    assert _error(response) == (413, "RequestTooLargeException", "Request Too Long")
    assert handler.events == []


def test_handlers_are_resolved_once_per_route():
    resolved = []
    handler = Recorder()

    def resolve(route):
        resolved.append(route.operation)
        return handler

    gateway = LocalGateway(
        TenantRegistry([ALICE]), api=ApiIdentity("999999999999"), resolve_handler=resolve, clock=lambda: NOW
    )
    for _ in range(3):
        gateway.handle(_signed("GET", "/evaluations/batch-evaluate"))
    assert resolved == ["ListBatchEvaluations"]


def test_a_resource_policy_denies_accounts_it_does_not_allow():
    # Given an API whose resource policy allows only another account
    handler = Recorder()
    gateway = _gateway(handler, allowed_accounts=frozenset({"222222222222"}))
    # When Alice (correctly signed) calls it
    status, error_type, message = _error(gateway.handle(_signed("GET", "/evaluations/batch-evaluate")))
    # Then API Gateway's explicit denial comes back and no handler ran
    assert (status, error_type) == (403, "AccessDeniedException")
    assert message == (
        "User: arn:aws:iam::111111111111:user/batcheval-local is not authorized to perform:"
        " execute-api:Invoke on resource:"
        " arn:aws:execute-api:us-east-1:999999999999:batchevallocal/local/GET/evaluations/batch-evaluate"
    )
    assert handler.events == []
    assert (
        _gateway(handler, allowed_accounts=frozenset({"111111111111"}))
        .handle(_signed("GET", "/evaluations/batch-evaluate"))
        .status
        == 200
    )


def test_stage_throttling_answers_429_once_the_burst_is_spent():
    # Given a stage limited to a burst of 2 and (effectively) no refill
    handler = Recorder()
    gateway = _gateway(handler, throttle=TokenBucket(rate=0.001, burst=2))
    statuses = [gateway.handle(_signed("GET", "/evaluations/batch-evaluate")).status for _ in range(3)]
    # Then the third request is throttled before reaching the handler
    assert statuses == [200, 200, 429]
    assert len(handler.events) == 2
    throttled = gateway.handle(_signed("GET", "/evaluations/batch-evaluate"))
    assert _error(throttled) == (429, "ThrottlingException", "Too Many Requests")


def test_token_bucket_refills_at_its_rate():
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=1, clock=lambda: now[0])
    assert bucket.try_acquire()
    assert not bucket.try_acquire()
    now[0] = 0.5  # half a second at 2/s refills one token
    assert bucket.try_acquire()
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0, burst=1)
