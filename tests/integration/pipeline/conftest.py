"""Call the real pipeline step handlers on moto (mock_aws), driving them as the state machine would."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import msgspec
import pytest
from moto import mock_aws

from batcheval.aws import AwsClients
from batcheval.jobs.records import Job
from batcheval.jobs.resources import ensure_job_resources
from batcheval.jobs.service import JobService
from batcheval.jobs.starter import NoOpStarter
from batcheval.judges.fake import ScriptedJudge
from batcheval.pipeline import runtime as pipeline_runtime
from batcheval.pipeline.handlers import aggregate, discover, finalize, score_batch
from batcheval.pipeline.runtime import PipelineRuntime, build_runtime
from batcheval.pipeline.settings import PipelineSettings
from batcheval.traces.sample_logs import runtime_log_group, write_samples
from batcheval.traces.samples import SampleSet, generate
from tests.unit.jobs.moto_support import serializable_dynamodb

REGION = "us-east-1"
OWNER = "123456789012"
TABLE = "batcheval-jobs"
BUCKET = "batcheval-payloads"
SERVICE = "TravelAgent.DEFAULT"
RUNTIME_GROUP = runtime_log_group("TravelAgent-abc1234567")
MACHINE = f"arn:aws:states:{REGION}:{OWNER}:stateMachine:batcheval"
HOUR_NS = 3600 * 10**9
CODE_EVALUATOR = "ThirdParty.Batcheval.ToolErrorRate"
JUDGE_EVALUATOR = "Builtin.Helpfulness"
HELPFUL = {"explanation": "It answered.", "label": "Very Helpful"}

_request_ids = itertools.count()


@dataclass
class FakeContext:
    """A Lambda context whose remaining time is scripted: `remaining()` is called once for the judge
    deadline, then before each session."""

    remaining: Callable[[], int] = lambda: 600_000
    aws_request_id: str = field(default_factory=lambda: f"req-{next(_request_ids):06d}")
    function_name: str = "batcheval-ScoreBatch"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{OWNER}:function:batcheval-ScoreBatch"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining()


@dataclass
class Pipeline:
    runtime: PipelineRuntime
    service: JobService
    clients: AwsClients
    sample: SampleSet
    judge: ScriptedJudge
    window: tuple[int, int]
    replies: dict[str, Any]

    def judge_answers(self, step: Any) -> None:
        """What the judge replies from now on: an output mapping, a JudgeError to raise, or a function
        of the request returning either."""
        self.replies["step"] = step

    def request(self, name: str = "nightly", **extra: Any) -> dict[str, Any]:
        start_s, end_s = self.window
        body: dict[str, Any] = {
            "batchEvaluationName": name,
            "dataSourceConfig": {
                "cloudWatchLogs": {
                    "serviceNames": [SERVICE],
                    "logGroupNames": [RUNTIME_GROUP],
                    "filterConfig": {"timeRange": {"startTime": start_s, "endTime": end_s}},
                }
            },
            "evaluators": [{"evaluatorId": CODE_EVALUATOR}, {"evaluatorId": JUDGE_EVALUATOR}],
        }
        body.update(extra)
        return body

    def start(self, name: str = "nightly", **extra: Any) -> Job:
        return self.service.start(OWNER, self.request(name, **extra)).job

    def discover(self, job: Job, execution: str | None = None) -> dict[str, Any]:
        event = {
            "owner": job.owner,
            "batchEvaluationId": job.job_id,
            "executionArn": execution or self.execution(job),
        }
        return discover.lambda_handler(event, FakeContext())

    def execution(self, job: Job) -> str:
        return f"arn:aws:states:{REGION}:{OWNER}:execution:batcheval:{job.job_id}"

    def manifest_items(self, discovered: dict[str, Any]) -> list[dict[str, Any]]:
        manifest = discovered["manifest"]
        body = (
            self.clients.client("s3")
            .get_object(Bucket=manifest["Bucket"], Key=manifest["Key"])["Body"]
            .read()
        )
        return [msgspec.json.decode(line) for line in body.splitlines() if line.strip()]

    def score(
        self, job: Job, items: list[dict[str, Any]], context: FakeContext | None = None
    ) -> dict[str, Any]:
        event = {"Items": items, "BatchInput": {"owner": job.owner, "batchEvaluationId": job.job_id}}
        return score_batch.lambda_handler(event, context or FakeContext())

    def aggregate(self, job: Job) -> dict[str, Any]:
        event = {"owner": job.owner, "batchEvaluationId": job.job_id, "mapRun": None}
        return aggregate.lambda_handler(event, FakeContext())

    def finalize(self, job: Job, error: dict[str, Any] | None = None) -> dict[str, Any]:
        event: dict[str, Any] = {"owner": job.owner, "batchEvaluationId": job.job_id}
        if error is not None:
            event["error"] = error
        return finalize.lambda_handler(event, FakeContext())

    def run(self, job: Job, *, batch_size: int = 4) -> dict[str, Any]:
        """Discover → every batch (looping on `remaining`) → Aggregate → Finalize, as the machine does."""
        discovered = self.discover(job)
        if discovered["proceed"]:
            items = self.manifest_items(discovered)
            for start in range(0, len(items), batch_size):
                batch = items[start : start + batch_size]
                while batch:
                    batch = self.score(job, batch)["remaining"]
            self.aggregate(job)
        return self.finalize(job)

    def get(self, job: Job) -> Job:
        return self.service.get(job.owner, job.job_id).job

    def progress(self, job: Job) -> dict[str, Any]:
        """evaluationResults as Get shows it (live counters while running)."""
        return self.get(job).wire_results() or {}

    def export_lines(self, job: Job) -> list[dict[str, Any]]:
        s3 = self.clients.client("s3")
        prefix = f"jobs/{job.owner}/{job.job_id}/results/"
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
        return [
            msgspec.json.decode(line)
            for key in keys
            for line in s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().splitlines()
            if line.strip()
        ]

    def log_records(self, group: str, stream: str) -> list[dict[str, Any]]:
        logs = self.clients.client("logs")
        events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
        return [msgspec.json.decode(event["message"]) for event in events]


def _reply(step: Any, request: Any) -> Any:
    return step(request) if callable(step) else step


def scripted_judge(replies: dict[str, Any]) -> ScriptedJudge:
    """A judge answering `replies["step"]` (a reply, or a function of the request), changeable mid-test."""
    return ScriptedJudge(responder=lambda request: _reply(replies["step"], request))


def moto_settings(key_arn: str, **overrides: Any) -> PipelineSettings:
    """The pipeline's settings on moto: FilterLogEvents discovery, no settle or stop-check waits."""
    return PipelineSettings(
        jobs_table=TABLE,
        payload_bucket=BUCKET,
        kms_key_arn=key_arn,
        region=REGION,
        discovery="filter",
        settle_seconds=0,
        stop_check_seconds=0,
        evaluator_workers=1,
        deadline_safety_ms=1_000,
        **overrides,
    )


@pytest.fixture(scope="session")
def boto_session() -> boto3.Session:
    return boto3.Session(region_name=REGION)


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch, boto_session: boto3.Session) -> Iterator[Pipeline]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with serializable_dynamodb(monkeypatch), mock_aws():
        clients = AwsClients(region=REGION, session=boto_session)
        ensure_job_resources(clients, table_name=TABLE, bucket_name=BUCKET)
        key_arn = clients.client("kms").create_key(Description="stack key")["KeyMetadata"]["Arn"]
        now_ns = time.time_ns()
        sample = generate(10, seed=7, service_name=SERVICE, start_time_ns=now_ns - 3 * HOUR_NS, window_s=1800)
        write_samples(clients.client("logs"), sample, runtime_group=RUNTIME_GROUP)
        replies: dict[str, Any] = {"step": HELPFUL}
        judge = scripted_judge(replies)
        runtime = build_runtime(moto_settings(key_arn), clients=clients, judge=judge)
        pipeline_runtime.use(runtime)
        try:
            yield Pipeline(
                runtime=runtime,
                service=runtime.job_service(NoOpStarter()),
                clients=clients,
                sample=sample,
                judge=judge,
                window=((now_ns - 4 * HOUR_NS) // 10**9, (now_ns - 60 * 10**9) // 10**9),
                replies=replies,
            )
        finally:
            pipeline_runtime.reset()
