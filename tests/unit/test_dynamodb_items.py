"""DynamoDB marshalling through boto3's TypeSerializer/TypeDeserializer (batcheval.dynamodb_items).

Items written by the hand-written helpers this replaced must still read, and new writes must be
the same bytes: each store is checked against a literal low-level item in the old shape.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from decimal import Decimal, DecimalException
from typing import Any, cast

import pytest

from batcheval.dynamodb_items import from_attribute, from_item, to_attribute, to_item
from batcheval.jobs.ledger import BatchCommit, RunLedger, SessionMarker
from batcheval.jobs.records import Job, RunProgress, SpecLocation
from batcheval.jobs.store import job_from_item, job_to_item
from batcheval.judges.bucket import BucketState
from batcheval.judges.ratelimit_dynamodb import _from_item as bucket_from_item
from batcheval.judges.ratelimit_dynamodb import _to_item as bucket_to_item

# A job item exactly as the hand-written `_s`/`_n` helpers wrote it.
OLD_JOB_ITEM: dict[str, Any] = {
    "pk": {"S": "OWNER#111111111111"},
    "sk": {"S": "JOB#job-1"},
    "kind": {"S": "job"},
    "owner": {"S": "111111111111"},
    "jobId": {"S": "job-1"},
    "arn": {"S": "arn:aws:bedrock-agentcore:us-east-1:111111111111:batch-evaluation/job-1"},
    "name": {"S": "nightly"},
    "status": {"S": "IN_PROGRESS"},
    "createdAt": {"S": "2026-01-02T03:04:05.123456Z"},
    "updatedAt": {"S": "2026-01-02T03:05:00.000000Z"},
    "listKey": {"S": "2026-01-02T03:04:05.123456Z#job-1"},
    "doc": {
        "S": '{"description":"d","evaluators":[{"evaluatorId":"Builtin.Helpfulness"}],"outputConfig":null,'
        '"kmsKeyArn":null,"tags":{"team":"a"},"dataSourceConfig":null,"dataSourceInS3":true}'
    },
    "specBucket": {"S": "payloads"},
    "specKey": {"S": "specs/job-1.json"},
    "specKmsKeyArn": {"S": "arn:aws:kms:us-east-1:111111111111:key/k"},
    "requestHash": {"S": "abc"},
    "clientToken": {"S": "token-1"},
    "runId": {"S": "arn:aws:states:us-east-1:111111111111:execution:sm:job-1"},
    "errorDetails": {"L": [{"S": "first"}, {"S": "second"}]},
    "sessionsTotal": {"N": "10"},
    "sessionsIgnored": {"N": "1"},
    "sessionsCompleted": {"N": "7"},
    "sessionsFailed": {"N": "2"},
    "resultsExport": {"S": "s3://payloads/results/job-1/"},
}


class RecordingDynamoDB:
    """Records the writes and answers queries with the given low-level items."""

    def __init__(self, items: list[dict[str, Any]] | None = None) -> None:
        self.items = items or []
        self.puts: list[dict[str, Any]] = []

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        self.puts.append(kwargs["Item"])
        return {}

    def query(self, **kwargs: Any) -> dict[str, Any]:
        return {"Items": self.items}


def test_a_job_item_in_the_old_shape_reads_and_writes_back_byte_for_byte():
    # Given a job item as the old hand-written helpers stored it
    # When it is read through the deserializer and written again through the serializer
    job = job_from_item(OLD_JOB_ITEM)
    item = job_to_item(job)

    # Then the domain values are the old ones (ints, not Decimals) and the item is the same one
    assert job.progress == RunProgress(total=10, ignored=1, completed=7, failed=2)
    assert type(job.progress.total) is int
    assert job.error_details == ["first", "second"]
    assert job.created_at == datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert job.tags == {"team": "a"}
    assert job.data_source_in_s3 is True
    assert item == OLD_JOB_ITEM


def test_a_new_job_without_optional_fields_leaves_those_attributes_out():
    # Given a job with no token, run, results, errors or progress
    job = Job(
        owner="111111111111",
        job_id="job-2",
        arn="arn",
        name="n",
        status="PENDING",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        spec=SpecLocation("b", "k", "kms"),
        request_hash="h",
    )

    # When it is written
    item = job_to_item(job)

    # Then absent means absent (never NULL or an empty list), and it reads back equal
    absent = {
        "clientToken",
        "runId",
        "results",
        "errorDetails",
        "sessionsTotal",
        "resultsExport",
        "retryManifest",
    }
    assert not absent & set(item)
    assert job_from_item(item) == job


def test_ledger_markers_and_commits_keep_their_old_item_shape():
    # Given a ledger whose client records the items it writes
    db = RecordingDynamoDB()
    ledger = RunLedger(cast(Any, db), "jobs")
    records = b'{"score":1}\n'

    # When a session is claimed and a batch committed
    ledger.claim("o", "j", SessionMarker("s1", "part-1", "COMPLETED", {"n": 1}, records=records))
    ledger.commit("o", "j", BatchCommit("part-1", completed=3, failed=1, results_key="r", partial_key=None))

    # Then the items are the ones the hand-written helpers wrote (binary records as bytes)
    assert db.puts == [
        {
            "pk": {"S": "RUN#o#j"},
            "sk": {"S": "S#s1"},
            "part": {"S": "part-1"},
            "outcome": {"S": "COMPLETED"},
            "ref": {"S": '{"n":1}'},
            "records": {"B": zlib.compress(records)},
        },
        {
            "pk": {"S": "RUN#o#j"},
            "sk": {"S": "P#part-1"},
            "state": {"S": "COMMITTED"},
            "completed": {"N": "3"},
            "failed": {"N": "1"},
            "results": {"S": "r"},
        },
    ]


def test_ledger_reads_items_in_the_old_shape():
    # Given an open and a committed batch item as stored before
    db = RecordingDynamoDB(
        [
            {
                "pk": {"S": "RUN#o#j"},
                "sk": {"S": "P#a"},
                "state": {"S": "OPEN"},
                "sessions": {"S": '["s1","s2"]'},
            },
            {
                "pk": {"S": "RUN#o#j"},
                "sk": {"S": "P#b"},
                "state": {"S": "COMMITTED"},
                "completed": {"N": "5"},
                "failed": {"N": "0"},
                "partial": {"S": "p"},
            },
        ]
    )

    # When the batches are read
    committed, open_ = RunLedger(cast(Any, db), "jobs").batches("o", "j")

    # Then counts are ints and absent keys are None
    assert [(b.part, b.session_ids) for b in open_] == [("a", ("s1", "s2"))]
    assert committed == [BatchCommit("b", completed=5, failed=0, results_key=None, partial_key="p")]
    assert type(committed[0].completed) is int


def test_a_session_marker_with_binary_records_reads_back_as_bytes():
    # Given a marker item with zlib-compressed records, as stored before
    records = b'{"a":1}\n{"b":2}\n'
    item = {
        "pk": {"S": "RUN#o#j"},
        "sk": {"S": "S#s9"},
        "part": {"S": "p"},
        "outcome": {"S": "FAILED"},
        "ref": {"S": "{}"},
        "records": {"B": zlib.compress(records)},
    }

    # When the ledger lists the markers
    markers = list(RunLedger(cast(Any, RecordingDynamoDB([item])), "jobs").markers("o", "j"))

    # Then the records decompress from plain bytes
    assert markers == [SessionMarker("s9", "p", "FAILED", {}, records=records)]


def test_bucket_state_keeps_six_decimal_floats_and_reads_old_items():
    # Given a bucket item as the hand-written `_n` wrote it (floats with six decimals)
    old = {
        "pk": {"S": "judge-bucket#m"},
        "tokens": {"N": "12.500000"},
        "updated_at": {"N": "1700000000.123457"},
        "version": {"N": "3"},
        "throttles": {"N": "1"},
        "spend": {"M": {"28333333": {"N": "4.250000"}}},
        "floor_rate": {"N": "0.333333"},
        "decreased_at": {"N": "1699999999.000000"},
    }

    # When it is read and written back
    state = bucket_from_item(old)

    # Then the state has floats and ints again, and the item is the same bytes
    assert state == BucketState(
        tokens=12.5,
        updated_at=1700000000.123457,
        version=3,
        spend=((28333333, 4.25),),
        floor_rate=0.333333,
        decreased_at=1699999999.0,
        throttles=1,
    )
    assert bucket_to_item("judge-bucket#m", state) == old


def test_what_the_library_decides_and_what_we_decide_once():
    # Given values of every kind the stores write
    # When they are marshalled
    # Then boto3 picks the types (ints exact, sets, lists, maps, bytes) and floats get six decimals
    assert to_attribute("x") == {"S": "x"}
    assert to_attribute(12345678901234567890) == {"N": "12345678901234567890"}
    assert to_attribute(0.1) == {"N": "0.100000"}
    assert to_attribute({3}) == {"NS": ["3"]}
    assert to_attribute(["a"]) == {"L": [{"S": "a"}]}
    assert to_attribute({"k": 1.5}) == {"M": {"k": {"N": "1.500000"}}}
    assert to_attribute(b"\x00") == {"B": b"\x00"}
    assert to_attribute(True) == {"BOOL": True}
    assert to_item({"a": "x", "b": None}) == {"a": {"S": "x"}}
    # And reads give Decimal for numbers (callers convert), bytes for binary, sets for sets
    assert from_item({"n": {"N": "1.500000"}, "s": {"NS": ["1", "2"]}, "b": {"B": b"\x01"}}) == {
        "n": Decimal("1.500000"),
        "s": {Decimal(1), Decimal(2)},
        "b": b"\x01",
    }
    assert from_attribute({"NULL": True}) is None


def test_numbers_dynamodb_cannot_store_are_refused_before_the_call():
    # Given a NaN and a number beyond DynamoDB's 38 digits of precision
    # When they are marshalled
    # Then the library refuses them (the old helpers sent them and DynamoDB refused the request)
    with pytest.raises(TypeError):
        to_attribute(float("nan"))
    with pytest.raises(DecimalException):
        to_attribute(10**40 + 1)
