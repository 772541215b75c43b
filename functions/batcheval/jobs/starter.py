"""How JobService hands a new job to the evaluation pipeline, and asks a running one to stop."""

from __future__ import annotations

from typing import Protocol

from batcheval.jobs.records import Job


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
