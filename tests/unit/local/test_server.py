import http.client
import json
import socket

import boto3
import pytest

import batcheval
from batcheval.local.gateway import LocalGateway
from batcheval.local.proxy import ApiIdentity
from batcheval.local.server import LocalApiServer
from batcheval.local.sigv4 import DEFAULT_TENANT, TenantRegistry
from tests.unit.local.signing import sign

JOB = {
    "batchEvaluationId": "job-abcdefghij",
    "batchEvaluationArn": "arn:aws:bedrock-agentcore:us-east-1:123456789012:batch-evaluate/job-abcdefghij",
    "batchEvaluationName": "job",
    "status": "PENDING",
    "createdAt": "2026-11-26T07:00:00Z",
}


def echo_handler(event, context):
    """Answers like Get/Start would, echoing what the gateway passed in a custom header."""
    if event["pathParameters"] and event["pathParameters"]["batchEvaluationId"] == "crash":
        raise RuntimeError("boom")
    seen = {
        "operation": context.function_name,
        "id": (event["pathParameters"] or {}).get("batchEvaluationId"),
        "account": event["requestContext"]["identity"]["accountId"],
    }
    status = 202 if event["httpMethod"] == "POST" else 200
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "X-Seen": json.dumps(seen)},
        "body": json.dumps(JOB),
    }


@pytest.fixture(scope="module")
def server():
    gateway = LocalGateway(
        TenantRegistry([DEFAULT_TENANT]),
        api=ApiIdentity(account_id="123456789012"),
        resolve_handler=lambda route: echo_handler,
        max_body_bytes=1024,
    )
    with LocalApiServer(gateway, port=0) as running:
        yield running


def _seen(client, call):
    captured = {}
    client.meta.events.register(
        "after-call.bedrock-agentcore.*",
        lambda http_response, **kw: captured.update(json.loads(http_response.headers["X-Seen"])),
    )
    result = call(client)
    return result, captured


def test_the_batcheval_client_talks_to_the_server(server):
    # Given the helper client (signs as execute-api)
    client = batcheval.client(endpoint_url=server.url, aws_access_key_id="test", aws_secret_access_key="test")
    # When it gets a job whose id needs percent-encoding
    result, seen = _seen(client, lambda c: c.get_batch_evaluation(batchEvaluationId="be/1 x"))
    # Then boto3 parsed the answer and the handler saw the decoded id and the caller's account
    assert result["status"] == "PENDING"
    assert result["createdAt"].tzinfo is not None
    assert result["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert result["ResponseMetadata"]["RequestId"]
    assert seen == {"operation": "batcheval-GetBatchEvaluation", "id": "be/1 x", "account": "123456789012"}


def test_the_stock_boto3_client_signing_as_bedrock_agentcore_works_too(server):
    client = boto3.client(
        "bedrock-agentcore",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    _, seen = _seen(client, lambda c: c.stop_batch_evaluation(batchEvaluationId="job-abcdefghij"))
    assert seen["operation"] == "batcheval-StopBatchEvaluation"


def test_wrong_credentials_get_api_gateway_errors_through_boto3(server):
    client = batcheval.client(endpoint_url=server.url, aws_access_key_id="nobody", aws_secret_access_key="x")
    with pytest.raises(client.exceptions.ClientError) as exc:
        client.list_batch_evaluations()
    assert exc.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def _raw(server, method, path, body=b"", headers=None, sign_it=True):
    host = server.url.removeprefix("http://")
    all_headers = dict(sign(method, f"http://{host}{path}", body=body) if sign_it else [("Host", host)])
    all_headers.update(headers or {})
    connection = http.client.HTTPConnection(host, timeout=5)
    connection.request(method, path, body=body, headers=all_headers)
    response = connection.getresponse()
    return connection, response, response.read()


def test_a_crashing_handler_gives_500_and_the_server_keeps_serving(server):
    connection, response, body = _raw(server, "GET", "/evaluations/batch-evaluate/crash")
    assert response.status == 500
    assert response.getheader("x-amzn-ErrorType") == "InternalServerException"
    assert json.loads(body) == {"message": "Internal server error"}
    # When the same keep-alive connection is reused, Then the server still answers
    host = server.url.removeprefix("http://")
    connection.request(
        "GET",
        "/evaluations/batch-evaluate",
        headers=dict(sign("GET", f"http://{host}/evaluations/batch-evaluate")),
    )
    assert connection.getresponse().status == 200


def _raw_exchange(server, payload: bytes) -> bytes:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(payload)
        sock.settimeout(5)
        reply = b""
        while chunk := sock.recv(65536):  # the server closes the connection after answering
            reply += chunk
    return reply


def test_an_oversized_body_is_refused_with_413_without_reading_it(server):
    # Given a request that announces more than the limit but sends nothing more
    reply = _raw_exchange(
        server, b"POST /evaluations/batch-evaluate HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n"
    )
    # Then the server answers at once and closes the connection
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"x-amzn-ErrorType: RequestTooLargeException" in head
    assert b"Connection: close" in head
    assert json.loads(body) == {"message": "Request Too Long"}


def test_chunked_bodies_are_refused(server):
    reply = _raw_exchange(
        server,
        b"POST /evaluations/batch-evaluate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\n0\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 411")


def test_unknown_paths_are_403_like_api_gateway(server):
    _, response, body = _raw(server, "GET", "/favicon.ico", sign_it=False)
    assert response.status == 403
    assert response.getheader("x-amzn-ErrorType") == "MissingAuthenticationTokenException"
    assert json.loads(body) == {"message": "Missing Authentication Token"}


def test_server_stops_and_frees_its_port():
    gateway = LocalGateway(TenantRegistry([DEFAULT_TENANT]), api=ApiIdentity("123456789012"))
    running = LocalApiServer(gateway, port=0).start()
    url = running.url
    running.stop()
    host, port = url.removeprefix("http://").split(":")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=1)


def _head_and_body(reply: bytes) -> tuple[bytes, bytes]:
    head, _, body = reply.partition(b"\r\n\r\n")
    return head, body


def _assert_aws_shaped(reply: bytes, status: int, error_type: str) -> None:
    head, body = _head_and_body(reply)
    assert head.startswith(f"HTTP/1.1 {status}".encode())
    assert f"x-amzn-ErrorType: {error_type}".encode() in head
    assert b"Content-Type: application/json" in head
    assert set(json.loads(body)) == {"message"}


@pytest.mark.parametrize(
    ("payload", "status", "error_type"),
    [
        pytest.param(b"GARBAGE\r\n\r\n", 400, "BadRequestException", id="garbage-request-line"),
        pytest.param(b"GET /\r\n\r\n", 400, "BadRequestException", id="http-0.9"),
        pytest.param(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "BadRequestException", id="http2-preface"),
        pytest.param(
            b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
            414,
            "BadRequestException",
            id="long-request-line",
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
            431,
            "BadRequestException",
            id="header-line-over-64k",
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % n for n in range(120)) + b"\r\n",
            431,
            "BadRequestException",
            id="too-many-headers",
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 10_300 + b"\r\n\r\n",
            431,
            "BadRequestException",
            id="over-api-gateway-header-limit",
        ),
        pytest.param(
            b"get /evaluations/batch-evaluate HTTP/1.1\r\n\r\n",
            403,
            "MissingAuthenticationTokenException",
            id="lower-case-method",
        ),
        pytest.param(
            b"BREW /evaluations/batch-evaluate HTTP/1.1\r\nConnection: close\r\n\r\n",
            403,
            "MissingAuthenticationTokenException",
            id="unknown-method",
        ),
        pytest.param(
            b"POST /evaluations/batch-evaluate HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
            400,
            "BadRequestException",
            id="conflicting-content-length",
        ),
        pytest.param(
            b"POST /evaluations/batch-evaluate HTTP/1.1\r\nContent-Length: 1_0\r\n\r\n{}",
            400,
            "BadRequestException",
            id="non-digit-content-length",
        ),
    ],
)
def test_every_refusal_has_the_aws_error_shape(server, payload, status, error_type):
    # Given a request http.server would answer with an HTML page (or that smuggles a length)
    # When it is sent
    reply = _raw_exchange(server, payload)
    # Then the answer is the service's JSON error with x-amzn-ErrorType, and the connection closes
    _assert_aws_shaped(reply, status, error_type)
    assert b"Connection: close" in _head_and_body(reply)[0]


def test_headers_just_within_the_api_gateway_limit_are_accepted(server):
    # Given headers totalling a little under 10,240 bytes
    _, response, _ = _raw(server, "GET", "/evaluations/batch-evaluate", headers={"X-Pad": "a" * 9_000})
    # Then the request is served
    assert response.status == 200


@pytest.fixture
def impatient_server():
    gateway = LocalGateway(
        TenantRegistry([DEFAULT_TENANT]),
        api=ApiIdentity(account_id="123456789012"),
        resolve_handler=lambda route: echo_handler,
    )
    with LocalApiServer(gateway, port=0, read_timeout=0.3) as running:
        yield running


def test_a_body_shorter_than_its_content_length_times_out_with_408(impatient_server):
    # Given a request announcing 100 bytes that sends 2 and then waits
    reply = _raw_exchange(
        impatient_server, b"POST /evaluations/batch-evaluate HTTP/1.1\r\nContent-Length: 100\r\n\r\n{}"
    )
    # Then the server gives up after its read timeout and says so in the AWS shape
    _assert_aws_shaped(reply, 408, "RequestTimeoutException")


def test_unfinished_headers_do_not_hold_the_connection(impatient_server):
    # Given a client that never finishes its headers
    # When the read timeout passes, Then the server has closed the connection (recv returns EOF)
    reply = _raw_exchange(impatient_server, b"GET /evaluations/batch-evaluate HTTP/1.1\r\nX-Slow: ")
    assert reply == b""


def test_fifty_connections_queue_while_the_server_is_busy_and_all_get_answers():
    # Given a listening server that is not accepting yet (as when every thread is busy)
    import threading

    from batcheval.local.server import _GatewayHttpServer

    gateway = LocalGateway(TenantRegistry([DEFAULT_TENANT]), api=ApiIdentity("123456789012"))
    httpd = _GatewayHttpServer(("127.0.0.1", 0), gateway, 5.0)
    host, port = httpd.server_address[:2]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    try:
        # When 50 clients connect at once (http.server's default backlog of 5 drops most of them)
        sockets = [socket.create_connection((str(host), port), timeout=0.5) for _ in range(50)]
        for sock in sockets:
            sock.sendall(b"GET /nowhere HTTP/1.1\r\nConnection: close\r\n\r\n")
            sock.settimeout(5)
        thread.start()
        # Then every connection was queued by the kernel and is answered once the server accepts
        replies = [sock.recv(12) for sock in sockets]
        assert replies == [b"HTTP/1.1 403"] * 50
    finally:
        if thread.is_alive():
            httpd.shutdown()
        httpd.server_close()
