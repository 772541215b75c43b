import threading
import time

from batcheval.evaluators.base import Evaluator, EvaluatorIdentity, targets_at
from batcheval.evaluators.code import code_evaluator
from batcheval.evaluators.registry import require_spec
from batcheval.evaluators.runner import run_evaluations
from batcheval.results.records import Level
from batcheval.traces.model import Session
from tests.unit.evaluators.builders import session, turn


class _Slow:
    """A TRACE evaluator whose first targets finish last, to test ordering."""

    identity = EvaluatorIdentity(
        "slow-abcdefghij",
        "slow",
        "arn:aws:bedrock-agentcore:us-east-1:123456789012:evaluator/slow-abcdefghij",
    )
    level: Level = "TRACE"

    def targets(self, session):
        return targets_at(session, "TRACE")

    def evaluate(self, target, refs):
        time.sleep(0.004 * (5 - (target.turn_index or 0)))
        return [self.identity.result(target, refs, value=float(target.turn_index), label="ok")]


class _Crashy:
    identity = EvaluatorIdentity(
        "crash-abcdefghij",
        "crash",
        "arn:aws:bedrock-agentcore:us-east-1:123456789012:evaluator/crash-abcdefghij",
    )
    level: Level = "SESSION"

    def targets(self, session):
        if session.session_id == "bad-targets":
            raise RuntimeError("cannot list")
        return targets_at(session, "SESSION")

    def evaluate(self, target, refs):
        raise ValueError(f"boom in {target.session.session_id}")


def test_results_come_back_in_session_evaluator_target_order_whatever_finishes_first():
    # Given targets that finish in reverse order, When run on 8 workers, Then results keep (session,
    # evaluator, target) order
    sessions = [session(f"s{i}", *(turn(n) for n in range(5))) for i in range(3)]
    evaluators: list[Evaluator] = [_Slow(), code_evaluator(require_spec("ThirdParty.Batcheval.TurnLatency"))]
    results = run_evaluations(sessions, evaluators, max_workers=8)
    keys = [(r.context.session_id, r.evaluator_id, r.context.trace_id) for r in results]
    expected = [
        (s.session_id, e.identity.evaluator_id, t.trace_id)
        for s in sessions
        for e in evaluators
        for t in s.turns
    ]
    assert keys == expected
    assert results == run_evaluations(sessions, evaluators, max_workers=1)


def test_a_crashing_evaluator_loses_only_its_own_results():
    # Given an evaluator that crashes, When run beside another, Then only its results are errors
    sessions = [session("ok", turn(1)), session("bad-targets", turn(1))]
    latency = code_evaluator(require_spec("ThirdParty.Batcheval.TurnLatency"))
    results = run_evaluations(sessions, [_Crashy(), latency], max_workers=4)
    crashed = [r for r in results if r.evaluator_id == "crash-abcdefghij"]
    assert [r.error_code for r in crashed] == ["EvaluatorError", "EvaluatorError"]
    assert "ValueError: boom in ok" in str(crashed[0].error_message)
    assert "RuntimeError: cannot list" in str(crashed[1].error_message)
    assert [r.value for r in results if r.evaluator_id == latency.identity.evaluator_id] == [1.0, 1.0]


def test_concurrency_is_bounded():
    # Given 30 targets and 3 workers, When run, Then they overlap but at most 3 run at once
    active, peak, lock = [0], [0], threading.Lock()

    class _Counting(_Slow):
        def evaluate(self, target, refs):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.01)
            with lock:
                active[0] -= 1
            return [self.identity.result(target, refs, value=1.0)]

    run_evaluations([session("s", *(turn(n) for n in range(30)))], [_Counting()], max_workers=3)
    assert 2 <= peak[0] <= 3


def test_a_session_without_turns_gets_an_explicit_error_per_evaluator():
    # Given a session the trace parser could not turn into any turn
    empty = Session(session_id="empty", errors=("Failed to parse event body for span with ID: ab",))
    evaluators = [
        code_evaluator(require_spec(i))
        for i in ("ThirdParty.Batcheval.TurnLatency", "Builtin.TrajectoryExactOrderMatch")
    ]
    # When evaluated
    results = run_evaluations([empty], evaluators)
    # Then each evaluator reports the session as unevaluable instead of producing nothing
    assert [r.error_code for r in results] == ["NoSpansToEvaluate", "NoSpansToEvaluate"]
    assert "Failed to parse event body" in str(results[0].error_message)
    assert results[0].context.session_id == "empty"


def test_one_slow_unit_does_not_idle_the_other_workers():
    # Given 3 workers and 30 targets: the first waits until the last one has run (at most 5 s)
    released, saw_release = threading.Event(), []

    class _HeadWaitsForTail(_Slow):
        def evaluate(self, target, refs):
            if target.turn_index == 0:
                saw_release.append(released.wait(5))
            elif target.turn_index == 29:
                released.set()
            return [self.identity.result(target, refs, value=1.0)]

    # When run
    sess = session("s", *(turn(n) for n in range(30)))
    results = run_evaluations([sess], [_HeadWaitsForTail()], max_workers=3)
    # Then the other workers got through every later target while the first was still running,
    # and the results still come back in target order
    assert saw_release == [True]
    assert [r.context.trace_id for r in results] == [t.trace_id for t in sess.turns]
