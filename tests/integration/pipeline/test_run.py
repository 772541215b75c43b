"""A job runs to the end through the real step handlers, with live progress and every result output."""

from __future__ import annotations

from collections import Counter

from batcheval.evaluators.registry import score_policy
from batcheval.results.aggregate import summarize
from batcheval.results.records import EvaluationResult
from tests.integration.pipeline.conftest import CODE_EVALUATOR, JUDGE_EVALUATOR, RUNTIME_GROUP, Pipeline


def test_a_started_job_runs_to_completion_with_results_everywhere(pipeline: Pipeline):
    # Given a started job over 10 sample sessions
    job = pipeline.start()
    assert job.status == "PENDING"

    # When discovery runs, Then the job is IN_PROGRESS with its sessions counted
    discovered = pipeline.discover(job)
    assert discovered["proceed"] is True
    assert discovered["totalSessions"] == 10
    assert pipeline.get(job).status == "IN_PROGRESS"
    assert pipeline.progress(job) == {
        "numberOfSessionsCompleted": 0,
        "numberOfSessionsInProgress": 10,
        "numberOfSessionsFailed": 0,
        "totalNumberOfSessions": 10,
        "numberOfSessionsIgnored": 0,
    }

    # When the first batch is scored, Then progress moves by its sessions
    items = pipeline.manifest_items(discovered)
    out = pipeline.score(job, items[:4])
    assert out["scored"] + out["failed"] == 4
    assert out["remaining"] == []
    assert pipeline.progress(job)["numberOfSessionsInProgress"] == 6

    # When the rest is scored and aggregated
    pipeline.score(job, items[4:])
    assert pipeline.aggregate(job)["status"] == "COMPLETED"
    pipeline.finalize(job)

    # Then Get shows the final counts and summaries equal to an independent computation over the export
    done = pipeline.get(job)
    assert done.status == "COMPLETED"
    lines = pipeline.export_lines(job)
    results = [EvaluationResult.from_record(line) for line in lines]
    sessions = Counter(line["context"]["spanContext"]["sessionId"] for line in lines)
    assert sessions.keys() == set(pipeline.sample.session_ids)
    expected = [s.to_wire() for s in summarize(results, policy_for=score_policy)]
    final = done.evaluation_results or {}
    assert final["numberOfSessionsCompleted"] == 10
    assert final["numberOfSessionsInProgress"] == 0
    assert {s["evaluatorId"] for s in final["evaluatorSummaries"]} == {CODE_EVALUATOR, JUDGE_EVALUATOR}
    by_id = sorted(final["evaluatorSummaries"], key=lambda s: s["evaluatorId"])
    assert by_id == sorted(expected, key=lambda s: s["evaluatorId"])
    # And the export is addressable from the job
    assert done.results_export == f"s3://batcheval-payloads/jobs/{job.owner}/{job.job_id}/results/"
    # And every result went to the default output group/stream as a gen_ai.evaluation.result record
    records = pipeline.log_records("/aws/bedrock-agentcore/evaluations/batch", job.job_id)
    assert len(records) == len(lines)
    assert {r["attributes"]["aws.bedrock_agentcore.evaluation_job.arn"] for r in records} == {job.arn}
    # And EMF metrics for every scored result went to the sibling metrics stream
    metrics = pipeline.log_records("/aws/bedrock-agentcore/evaluations/batch", job.job_id + "-metrics")
    assert len(metrics) == sum(1 for r in results if r.scored)
    assert all(
        m["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Bedrock-AgentCore/Evaluations" for m in metrics
    )


def test_source_log_group_destination_writes_next_to_the_traces(pipeline: Pipeline):
    # Given a job asking for results in its source log group, on a stream of its choosing
    output = {"cloudWatchConfig": {"resultDestination": "SOURCE_LOG_GROUP", "logStreamName": "evals"}}
    job = pipeline.start(outputConfig=output)
    # Then Start already answers with the resolved group
    assert (job.output_config or {})["cloudWatchConfig"]["logGroupName"] == RUNTIME_GROUP

    # When it runs
    pipeline.run(job)

    # Then the records are in the source group's `evals` stream, one per result
    records = pipeline.log_records(RUNTIME_GROUP, "evals")
    assert len(records) == len(pipeline.export_lines(job))
    assert {r["attributes"]["session.id"] for r in records} == set(pipeline.sample.session_ids)


def test_a_named_dedicated_group_is_created_with_a_custom_namespace(pipeline: Pipeline):
    # Given a job naming its own output group (not existing yet) and metrics namespace
    output = {"cloudWatchConfig": {"logGroupName": "/team/evals", "metricsNamespace": "Team/Evals"}}
    job = pipeline.start(outputConfig=output)

    # When it runs
    pipeline.run(job)

    # Then the group was created, the stream is the job id, and EMF uses the namespace
    assert pipeline.log_records("/team/evals", job.job_id)
    metrics = pipeline.log_records("/team/evals", job.job_id + "-metrics")
    assert {m["_aws"]["CloudWatchMetrics"][0]["Namespace"] for m in metrics} == {"Team/Evals"}
