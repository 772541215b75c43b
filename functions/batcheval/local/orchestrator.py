"""Local orchestration: the state machine's flow run in this process, on the same step handlers.

`LocalOrchestrator` is the JobStarter of `batcheval serve` / `demo` when there is no Step Functions.
It does what statemachine/batch_evaluation.asl.json does, with the settings read from that file
(`local.statemachine.map_settings`): Discover (input plus `executionArn`) → if it proceeds, the S3
JSONL manifest cut into batches of `MaxItemsPerBatch` items (and at most `MaxInputBytesPerBatch`),
at most `MaxConcurrency` batches at once, each batch calling ScoreBatch again on what it hands back,
a failed ScoreBatch retried as the definition's `States.TaskFailed` retrier says → Aggregate; more
failed items than `ToleratedFailurePercentage`, or any failed step → Finalize with the error. A Stop
stops starting batches and finalizes with the event Step Functions sends when an execution is
aborted (EventBridge "Execution Status Change", ABORTED), as the deployed stack does.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from batcheval.aws import AwsClients
from batcheval.jobs.identifiers import execution_name
from batcheval.jobs.records import Job
from batcheval.local.lambda_context import LocalLambdaContext
from batcheval.local.statemachine import MapSettings, load_definition, map_settings

logger = logging.getLogger(__name__)

StepHandler = Callable[[dict[str, Any], Any], Any]
STEPS = ("discover", "score_batch", "aggregate", "finalize")
HANDLERS_PACKAGE = "batcheval.pipeline.handlers"
STATE_MACHINE_NAME = "batcheval-local"
SCORE_BATCH_TIMEOUT_MS = 900_000
"""The ScoreBatch Lambda's timeout: its deadline is the context's remaining time, as in Lambda."""
TOLERANCE_EXCEEDED = "States.ExceedToleratedFailureThreshold"


def import_handlers() -> dict[str, StepHandler]:
    """The deployed step handlers, `batcheval.pipeline.handlers.<step>.lambda_handler`."""
    return {step: importlib.import_module(f"{HANDLERS_PACKAGE}.{step}").lambda_handler for step in STEPS}


def batches(
    items: Sequence[dict[str, Any]], *, max_items: int, max_bytes: int | None
) -> Iterator[list[dict[str, Any]]]:
    """Items cut as ItemBatcher cuts them: at most `max_items`, and at most `max_bytes` of JSON."""
    batch: list[dict[str, Any]] = []
    size = 0
    for item in items:
        item_size = len(msgspec.json.encode(item))
        if batch and (len(batch) >= max_items or (max_bytes is not None and size + item_size > max_bytes)):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch


@dataclass
class LocalRun:
    """One job's run: its execution ARN, its thread, and the Stop flag."""

    owner: str
    job_id: str
    execution_arn: str
    stop_requested: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    outcome: str = "RUNNING"
    """RUNNING, then SUCCEEDED, FAILED or ABORTED (as the execution would end)."""


class LocalOrchestrator:
    """A JobStarter that runs each job's state machine flow on threads of this process."""

    def __init__(
        self,
        clients: AwsClients,
        *,
        account_id: str,
        handlers: Mapping[str, StepHandler] | None = None,
        settings: MapSettings | None = None,
        score_batch_timeout_ms: int = SCORE_BATCH_TIMEOUT_MS,
    ) -> None:
        self._clients = clients
        self._account = account_id
        self._handlers = dict(handlers) if handlers is not None else None
        self.settings = settings or map_settings(load_definition())
        self._score_timeout_ms = score_batch_timeout_ms
        self._runs: dict[str, LocalRun] = {}
        self._lock = threading.Lock()

    # ---- JobStarter ----------------------------------------------------------------------------
    def start(self, job: Job) -> str:
        arn = self.execution_arn(job.owner, job.job_id, job.retry_manifest or "")
        with self._lock:
            existing = self._runs.get(arn)
            if existing is not None and not existing.done.is_set():
                return arn  # as StartExecution with the same name and input: the same execution
            run = LocalRun(job.owner, job.job_id, arn)
            self._runs[arn] = run
        threading.Thread(
            target=self._run, args=(run,), name=f"batcheval-run-{job.job_id}", daemon=True
        ).start()
        return arn

    def stop(self, job: Job) -> None:
        arn = job.run_id or self.execution_arn(job.owner, job.job_id, job.retry_manifest or "")
        with self._lock:
            run = self._runs.get(arn)
        if run is not None and not run.done.is_set():
            run.stop_requested.set()  # the run finalizes as ABORTED once its running batches return
            return
        # No live run (it ended, or this process never ran it): what EventBridge would deliver now.
        self._step("finalize", self._aborted_event(job.owner, job.job_id, arn))

    # ---- observation (CLI, tests, benchmark) ---------------------------------------------------
    def execution_arn(self, owner: str, job_id: str, attempt: str = "") -> str:
        """The ARN the run would have on the deployed machine (named as StepFunctionsStarter names it)."""
        name = execution_name(owner, job_id, attempt)
        return f"arn:aws:states:{self._clients.region}:{self._account}:execution:{STATE_MACHINE_NAME}:{name}"

    def run_of(self, owner: str, job_id: str) -> LocalRun | None:
        """The job's latest run (a retry of failed sessions is a later run)."""
        with self._lock:
            runs = [run for run in self._runs.values() if (run.owner, run.job_id) == (owner, job_id)]
        return runs[-1] if runs else None

    def wait(self, owner: str, job_id: str, timeout_s: float | None = None) -> LocalRun:
        run = self.run_of(owner, job_id)
        if run is None:
            raise KeyError(f"no local run for {owner}/{job_id}")
        if not run.done.wait(timeout_s):
            raise TimeoutError(f"run of {job_id} still going after {timeout_s} s")
        return run

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop every live run and wait for each to finalize (at shutdown)."""
        with self._lock:
            live = [run for run in self._runs.values() if not run.done.is_set()]
        for run in live:
            run.stop_requested.set()
        deadline = time.monotonic() + timeout_s
        for run in live:
            run.done.wait(max(0.0, deadline - time.monotonic()))

    # ---- the flow ------------------------------------------------------------------------------
    def _run(self, run: LocalRun) -> None:
        job = {"owner": run.owner, "batchEvaluationId": run.job_id}
        try:
            run.outcome = self._flow(run, job)
        except Exception as exc:  # the adapter edge: a step failed → Finalize, as the machine's Catch
            logger.exception("local run failed", extra={"batchEvaluationId": run.job_id})
            run.outcome = "FAILED"
            try:
                self._step("finalize", {**job, "error": {"Error": type(exc).__name__, "Cause": str(exc)}})
            except Exception:
                logger.exception("finalize failed", extra={"batchEvaluationId": run.job_id})
        finally:
            run.done.set()

    def _flow(self, run: LocalRun, job: dict[str, str]) -> str:
        discovered = self._step("discover", {**job, "executionArn": run.execution_arn})
        if not discovered.get("proceed"):
            return "SUCCEEDED"
        manifest = discovered["manifest"]
        body = self._clients.client("s3").get_object(Bucket=manifest["Bucket"], Key=manifest["Key"])["Body"]
        items = [msgspec.json.decode(line) for line in body.read().splitlines() if line.strip()]
        failed_items = self._map(run, job, items)
        if run.stop_requested.is_set():
            self._step("finalize", self._aborted_event(run.owner, run.job_id, run.execution_arn))
            return "ABORTED"
        if items and failed_items * 100 > self.settings.tolerated_failure_percentage * len(items):
            cause = (
                f"{failed_items} of {len(items)} sessions were in batches that failed, more than the "
                f"tolerated {self.settings.tolerated_failure_percentage:g}%."
            )
            self._step("finalize", {**job, "error": {"Error": TOLERANCE_EXCEEDED, "Cause": cause}})
            return "FAILED"
        self._step("aggregate", {**job, "mapRun": None})
        return "SUCCEEDED"

    def _map(self, run: LocalRun, job: dict[str, str], items: list[dict[str, Any]]) -> int:
        """Score every batch (at most MaxConcurrency at once); returns the items of failed batches."""
        cut = list(
            batches(
                items,
                max_items=self.settings.max_items_per_batch,
                max_bytes=self.settings.max_input_bytes_per_batch,
            )
        )
        workers = max(1, min(self.settings.max_concurrency or len(cut), len(cut)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batcheval-batch") as pool:
            failed = pool.map(lambda batch: self._child(run, job, batch), cut)
            return sum(failed)

    def _child(self, run: LocalRun, job: dict[str, str], batch: list[dict[str, Any]]) -> int:
        """One child execution: ScoreBatch until nothing is handed back; returns failed items."""
        if run.stop_requested.is_set():
            return 0  # never started (the execution was aborted first)
        items = batch
        attempts = 0
        while items and not run.stop_requested.is_set():  # an aborted execution calls nothing more
            try:
                result = self._step("score_batch", {"Items": items, "BatchInput": job})
            except Exception:
                attempts += 1
                if attempts > self.settings.task_failed_retries:
                    logger.exception("batch failed", extra={"batchEvaluationId": job["batchEvaluationId"]})
                    return len(items)
                continue
            items = list(result.get("remaining") or [])
        return 0

    def _step(self, step: str, event: dict[str, Any]) -> dict[str, Any]:
        handler = self._handler(step)
        context = LocalLambdaContext(
            function_name=f"batcheval-{step.replace('_', '-')}",
            aws_request_id=str(uuid.uuid4()),
            invoked_function_arn=(
                f"arn:aws:lambda:{self._clients.region}:{self._account}:function:batcheval-{step}"
            ),
            timeout_ms=self._score_timeout_ms if step == "score_batch" else SCORE_BATCH_TIMEOUT_MS,
        )
        # Through JSON both ways, as Lambda passes events: no shared mutable objects, no non-JSON types.
        result: dict[str, Any] = msgspec.json.decode(
            msgspec.json.encode(handler(msgspec.json.decode(msgspec.json.encode(event)), context))
        )
        return result

    def _handler(self, step: str) -> StepHandler:
        if self._handlers is None:
            self._handlers = import_handlers()
        return self._handlers[step]

    def _aborted_event(self, owner: str, job_id: str, execution_arn: str) -> dict[str, Any]:
        """The EventBridge event Step Functions emits when an execution is stopped."""
        now = datetime.now(UTC)
        state_machine = execution_arn.rsplit(":", 1)[0].replace(":execution:", ":stateMachine:")
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "account": self._account,
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._clients.region,
            "resources": [execution_arn],
            "detail": {
                "executionArn": execution_arn,
                "stateMachineArn": state_machine,
                "name": execution_arn.rsplit(":", 1)[1],
                "status": "ABORTED",
                "stopDate": int(now.timestamp() * 1000),
                "input": msgspec.json.encode({"owner": owner, "batchEvaluationId": job_id}).decode(),
                "inputDetails": {"included": True},
                "output": None,
                "error": None,
                "cause": None,
            },
        }
