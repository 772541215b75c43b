"""The Start request fingerprint is stored with each clientToken: its bytes must never drift."""

from batcheval.jobs.service import request_hash


def test_request_hash_is_pinned_across_json_libraries():
    # Given a Start request with unordered keys, non-ASCII text, escapes, a float and an integer
    # beyond 2**53 (the hash was first computed with orjson's sorted-key encoding)
    request = {
        "clientToken": "token-1",
        "batchEvaluationName": "nightly_ünïcode",
        "evaluators": [{"evaluatorId": "Builtin.Helpfulness"}, {"evaluatorId": "Builtin.Correctness"}],
        "dataSourceConfig": {
            "cloudWatchLogs": {
                "logGroupNames": ["/aws/bedrock-agentcore/runtimes/a-DEFAULT"],
                "serviceNames": ["a.DEFAULT"],
            },
            "sessionIds": ["s-2", "s-1"],
        },
        "evaluationReferenceInputs": [
            {
                "sessionId": "s-1",
                "expectedResponse": {"text": 'Paris — "fine"\n'},
                "weight": 0.25,
                "limit": 9007199254740993,
            }
        ],
        "outputConfig": {"cloudWatchConfig": {"logGroupName": "/batcheval/out"}},
        "tags": {"b": "2", "a": "1", "Z": "0"},
    }

    # When hashed, with and without its clientToken
    without_token = {k: v for k, v in request.items() if k != "clientToken"}

    # Then the fingerprint is the value stored by earlier releases, and ignores the clientToken
    expected = "45c26d18f862704dd3fc5382eb0b068b6d2737cc6e607e733e9e258b2c8e17f2"
    assert request_hash(request) == expected
    assert request_hash(without_token) == expected
