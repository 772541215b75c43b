"""How JobService hands a new job to the evaluation pipeline, and asks a running one to stop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import msgspec
from botocore.exceptions import ClientError

from batcheval.jobs.identifiers import execution_name
from batcheval.jobs.records import Job

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


class JobStarter(Protocol):
    def start(self, job: Job) -> str | None:
        """Start the pipeline for a PENDING job; return the run's id, or None if nothing was started."""
        ...

    def stop(self, job: Job) -> None:
        """Ask the job's run to stop; the pipeline then moves the job from STOPPING to STOPPED."""
        ...


class NoOpStarter:
    """Starts nothing: jobs stay PENDING with no run, so Stop moves them straight to STOPPED.

    The default until the Step Functions pipeline is wired in.
    """

    def start(self, job: Job) -> str | None:
        return None

    def stop(self, job: Job) -> None:
        return None


def _name(job: Job) -> str:
    return execution_name(job.owner, job.job_id, job.retry_manifest or "")


class StepFunctionsStarter:
    """Runs each job as one Step Functions execution named by the job (`execution_name`).

    Starting twice is harmless: the same name and input return the running execution, and a name
    already used by a finished execution (ExecutionAlreadyExists) resolves to that execution's ARN.
    The execution input is only the job's reference; the pipeline reads everything else itself.
    """

    def __init__(self, sfn: SFNClient, state_machine_arn: str) -> None:
        self._sfn = sfn
        self._machine = state_machine_arn

    def execution_arn(self, job: Job) -> str:
        # arn:aws:states:<region>:<account>:stateMachine:<name> → ...:execution:<name>:<execution>
        head, machine_name = self._machine.rsplit(":stateMachine:", 1)
        return f"{head}:execution:{machine_name}:{_name(job)}"

    def start(self, job: Job) -> str | None:
        payload = msgspec.json.encode({"owner": job.owner, "batchEvaluationId": job.job_id}).decode()
        try:
            response = self._sfn.start_execution(
                stateMachineArn=self._machine, name=_name(job), input=payload
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
            return self.execution_arn(job)
        return response["executionArn"]

    def stop(self, job: Job) -> None:
        """StopExecution of the job's run (a finished or unknown execution is not an error)."""
        try:
            self._sfn.stop_execution(
                executionArn=job.run_id or self.execution_arn(job),
                error="BatchEvaluation.Stopped",
                cause="StopBatchEvaluation was called.",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in {"ExecutionDoesNotExist", "InvalidArn"}:
                raise


class BoundStarter:
    """For a job created from inside its own run (a console execution): the run already exists."""

    def __init__(self, execution_arn: str) -> None:
        self._execution = execution_arn

    def start(self, job: Job) -> str | None:
        return self._execution

    def stop(self, job: Job) -> None:
        return None
