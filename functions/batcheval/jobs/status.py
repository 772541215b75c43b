"""The batch-evaluation status machine: the one table of legal transitions.

PENDING → IN_PROGRESS → COMPLETED | COMPLETED_WITH_ERRORS | FAILED; any active job → STOPPING →
STOPPED (a job with no run yet goes straight to STOPPED); any job → DELETING (Delete of a running job
stops its run first; the pipeline then finds the job gone or DELETING and ends quietly). The store
turns this table into DynamoDB conditions, so an illegal transition is a ConflictException,
never a silent overwrite.
"""

from __future__ import annotations

from typing import Literal, get_args

JobStatus = Literal[
    "PENDING",
    "IN_PROGRESS",
    "COMPLETED",
    "COMPLETED_WITH_ERRORS",
    "FAILED",
    "STOPPING",
    "STOPPED",
    "DELETING",
]
ALL_STATUSES: frozenset[JobStatus] = frozenset(get_args(JobStatus))

# Active jobs count against the per-owner active-job quota.
ACTIVE: frozenset[JobStatus] = frozenset({"PENDING", "IN_PROGRESS", "STOPPING"})
# Finished jobs: Stop is a conflict, Delete is allowed.
TERMINAL: frozenset[JobStatus] = frozenset({"COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "STOPPED"})

TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    "PENDING": frozenset({"IN_PROGRESS", "STOPPING", "STOPPED", "FAILED", "DELETING"}),
    "IN_PROGRESS": frozenset({"COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "STOPPING", "DELETING"}),
    "STOPPING": frozenset({"STOPPED", "FAILED", "DELETING"}),
    "COMPLETED": frozenset({"DELETING"}),
    # "Retry failed sessions" (an extension) runs a finished job with failures again.
    "COMPLETED_WITH_ERRORS": frozenset({"DELETING", "PENDING"}),
    "FAILED": frozenset({"DELETING", "PENDING"}),
    "STOPPED": frozenset({"DELETING"}),
    # A Delete interrupted half-way is finished by the next Delete.
    "DELETING": frozenset({"DELETING"}),
}


def can_transition(source: JobStatus, target: JobStatus) -> bool:
    return target in TRANSITIONS[source]


def sources_of(target: JobStatus) -> frozenset[JobStatus]:
    """Every status from which `target` may be entered (the condition of the conditional write)."""
    return frozenset(source for source, targets in TRANSITIONS.items() if target in targets)


def changes_activity(source: JobStatus, target: JobStatus) -> int:
    """+1/-1/0: how a transition moves the owner's active-job counter."""
    return int(target in ACTIVE) - int(source in ACTIVE)
