import pytest

from batcheval.jobs.status import (
    ACTIVE,
    ALL_STATUSES,
    TERMINAL,
    TRANSITIONS,
    can_transition,
    changes_activity,
    sources_of,
)


def test_every_status_has_a_row_and_active_terminal_partition_the_rest():
    # Given the transition table
    # Then it covers every status, and every status is active, terminal or DELETING
    assert set(TRANSITIONS) == ALL_STATUSES
    assert ACTIVE | TERMINAL | {"DELETING"} == ALL_STATUSES
    assert not ACTIVE & TERMINAL


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        ("PENDING", "IN_PROGRESS", True),
        ("IN_PROGRESS", "COMPLETED", True),
        ("IN_PROGRESS", "COMPLETED_WITH_ERRORS", True),
        ("PENDING", "STOPPED", True),
        ("STOPPING", "STOPPED", True),
        ("COMPLETED", "DELETING", True),
        ("COMPLETED", "IN_PROGRESS", False),
        ("STOPPED", "STOPPING", False),
        ("PENDING", "DELETING", True),
        ("IN_PROGRESS", "PENDING", False),
        ("DELETING", "COMPLETED", False),
    ],
)
def test_transition_table(source, target, allowed):
    # When asking whether a transition is legal / Then the table answers
    assert can_transition(source, target) is allowed


def test_terminal_statuses_lead_to_deleting_or_a_retry_of_their_failures():
    # Given the finished statuses / Then each may be deleted; those with failures may run again
    for status in TERMINAL:
        retry = {"PENDING"} if status in {"COMPLETED_WITH_ERRORS", "FAILED"} else set()
        assert TRANSITIONS[status] == {"DELETING"} | retry


def test_sources_and_activity_changes():
    # Given the table / Then DELETING may be entered from any status (Delete stops a running job first)
    assert sources_of("DELETING") == ALL_STATUSES
    assert changes_activity("PENDING", "STOPPED") == -1
    assert changes_activity("PENDING", "IN_PROGRESS") == 0
    assert changes_activity("STOPPED", "DELETING") == 0
