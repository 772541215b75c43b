"""Storage and encryption: one rotating key for every store; PITR; TLS-only private bucket."""

from __future__ import annotations

from tests.infra.conftest import Synth
from tests.infra.support import as_list


def key_id(synth: Synth) -> str:
    (key,) = synth.resources("AWS::KMS::Key")
    return key


def uses_key(value: object, key: str) -> bool:
    return value in ({"Fn::GetAtt": [key, "Arn"]}, {"Ref": key})


def test_one_customer_managed_key_with_rotation(full: Synth):
    (key,) = full.resources("AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True


def test_tables_encrypted_with_the_key_and_recoverable(full: Synth):
    key = key_id(full)
    tables = full.resources("AWS::DynamoDB::Table")
    assert len(tables) == 3  # jobs, judge capacity, custom evaluators
    for table in tables.values():
        properties = table["Properties"]
        assert properties["SSESpecification"]["SSEEnabled"] is True
        assert uses_key(properties["SSESpecification"]["KMSMasterKeyId"], key)
        assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    jobs = next(t["Properties"] for name, t in tables.items() if name.startswith("StorageJobs"))
    assert jobs["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert [i["IndexName"] for i in jobs["LocalSecondaryIndexes"]] == ["by_created"]
    assert {k["AttributeName"]: k["KeyType"] for k in jobs["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}


def payload_bucket(synth: Synth) -> tuple[str, dict]:
    (name,) = [k for k in synth.resources("AWS::S3::Bucket") if k.startswith("StoragePayloads")]
    return name, synth.service["Resources"][name]["Properties"]


def test_payload_bucket_sse_kms_bucket_key_private_versioned(full: Synth):
    _, bucket = payload_bucket(full)
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["BucketKeyEnabled"] is True
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert uses_key(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"], key_id(full))
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "LoggingConfiguration" in bucket


def test_lifecycle_expires_deleted_job_data_and_incomplete_uploads(full: Synth):
    _, bucket = payload_bucket(full)
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    deleted = rules["expire-deleted-job-data"]
    assert deleted["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}
    assert deleted["ExpiredObjectDeleteMarker"] is True


def test_every_bucket_is_tls_only(full: Synth):
    policies = full.resources("AWS::S3::BucketPolicy").values()
    buckets = set(full.resources("AWS::S3::Bucket"))
    tls_only = set()
    for policy in policies:
        for statement in as_list(policy["Properties"]["PolicyDocument"]["Statement"]):
            if statement["Effect"] == "Deny" and statement.get("Condition") == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                tls_only.add(policy["Properties"]["Bucket"]["Ref"])
    assert tls_only == buckets


def test_every_log_group_is_encrypted_with_retention(full: Synth):
    key = key_id(full)
    for name, group in full.resources("AWS::Logs::LogGroup").items():
        assert uses_key(group["Properties"]["KmsKeyId"], key), name
        assert group["Properties"]["RetentionInDays"] == 90, name


def test_queues_and_topic_are_encrypted_with_the_key(full: Synth):
    key = key_id(full)
    queues = full.resources("AWS::SQS::Queue")
    assert len(queues) == 2
    for queue in queues.values():
        assert uses_key(queue["Properties"]["KmsMasterKeyId"], key)
    (topic,) = full.resources("AWS::SNS::Topic").values()
    assert uses_key(topic["Properties"]["KmsMasterKeyId"], key)


def test_key_policy_lets_logs_use_the_key_only_for_log_groups(full: Synth):
    (key,) = full.resources("AWS::KMS::Key").values()
    statements = {s.get("Sid"): s for s in key["Properties"]["KeyPolicy"]["Statement"]}
    logs = statements["CloudWatchLogsUse"]
    assert "kms:EncryptionContext:aws:logs:arn" in logs["Condition"]["ArnLike"]
