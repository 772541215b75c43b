import msgspec

from batcheval.runs.lifecycle import ABORTED, INTERNAL_FAILURE, TIMED_OUT, clip_detail, failure_message


def _cause(error_type: str, message: str) -> str:
    return msgspec.json.encode(
        {"errorType": error_type, "errorMessage": message, "stackTrace": ["at x"]}
    ).decode()


def test_a_domain_errors_message_is_shown_clipped_to_1000_characters():
    # Given a caller-facing domain error with a very long message / Then it is shown, clipped
    message = failure_message({"Error": "SpanQueryError", "Cause": _cause("SpanQueryError", "x" * 5000)})
    assert len(message) == 1000
    assert message.startswith("xxx")


def test_internal_errors_never_leak_names_or_traces():
    # Given a Python exception or an unparsable cause / Then only the generic sentence is shown
    assert (
        failure_message({"Error": "KeyError", "Cause": _cause("KeyError", "'secret-table'")})
        == INTERNAL_FAILURE
    )
    assert failure_message({"Error": "Lambda.Unknown", "Cause": "Task timed out {"}) == INTERNAL_FAILURE
    assert failure_message({"Error": "States.TaskFailed", "Cause": None}) == INTERNAL_FAILURE


def test_execution_statuses_have_their_own_sentences():
    assert failure_message({"Error": "TIMED_OUT"}) == TIMED_OUT
    assert failure_message({"Error": "States.Timeout", "Cause": "x"}) == TIMED_OUT
    assert failure_message({"Error": "ABORTED"}) == ABORTED


def test_clip_keeps_short_text():
    assert clip_detail("short") == "short"
