from __future__ import annotations

import threading

from batcheval.judges.accounting import JudgeLedger


def test_ledger_totals_are_exact_across_threads_and_serialise_for_the_summary():
    # Given 8 threads each recording 500 successes and one throttle on the same model
    ledger = JudgeLedger()

    def record() -> None:
        for _ in range(500):
            ledger.record_success("m", 100, 10, 150.0, estimated=False)
        ledger.record_failure("m", "ThrottlingException", throttled=True)
        ledger.record_retry("m")

    threads = [threading.Thread(target=record) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ledger.record_final_error("m", "JudgeUnavailable")
    ledger.record_wait("m", 1.5)
    # When summarised, Then nothing was lost and the keys are the API's camelCase
    assert ledger.to_dict() == {
        "m": {
            "calls": 4_008,
            "succeeded": 4_000,
            "failed": 8,
            "throttled": 8,
            "retries": 8,
            "inputTokens": 400_000,
            "outputTokens": 40_000,
            "quotaTokens": 600_000.0,
            "estimatedCalls": 0,
            "rateLimitWaitSeconds": 1.5,
            "errors": {"JudgeUnavailable": 1},
        }
    }


def test_snapshot_is_a_copy():
    ledger = JudgeLedger()
    ledger.record_final_error("m", "X")
    snapshot = ledger.snapshot()
    snapshot["m"].errors["Y"] = 1
    assert ledger.snapshot()["m"].errors == {"X": 1}
