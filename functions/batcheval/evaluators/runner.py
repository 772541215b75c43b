"""Run evaluators over sessions on a bounded thread pool.

Work units are (session, evaluator, target) in that nested order; results come back in that order
whatever finishes first, so two runs over the same input list results identically. Each unit is
isolated: an exception escaping an evaluator becomes an `EvaluatorError` result for that unit only.
A session without turns gets one `NoSpansToEvaluate` error per evaluator, so it is never silently
missing from the results.
At most `max_workers * 2` units are queued or running at once, and at most
`max_workers * REORDER_FACTOR` finished units wait for a slower earlier one to be emitted, so memory
stays flat on large inputs and one slow unit (a Lambda timing out, a call waiting for judge quota)
does not leave the other workers idle.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from batcheval.evaluators.base import Evaluator, Target
from batcheval.evaluators.ground_truth import GroundTruth, SessionReferences
from batcheval.results.records import ErrorCodes, EvaluationResult
from batcheval.traces.model import Session

logger = logging.getLogger(__name__)

DEFAULT_MAX_WORKERS = 8
REORDER_FACTOR = 64


@dataclass(frozen=True, slots=True)
class _Unit:
    evaluator: Evaluator
    target: Target
    refs: SessionReferences
    failure: tuple[str, str] | None = None
    """(errorCode, message) when the unit cannot run at all; the unit then reports that error."""


def _units(
    sessions: Sequence[Session], evaluators: Sequence[Evaluator], ground_truth: GroundTruth
) -> Iterator[_Unit]:
    for session in sessions:
        refs = ground_truth.references_for(session)
        if not session.turns:
            # Nothing to judge: say so once per evaluator instead of silently producing no result.
            failure = (ErrorCodes.NO_SPANS, _no_spans_message(session))
            for evaluator in evaluators:
                yield _Unit(evaluator, Target(session, "SESSION"), refs, failure)
            continue
        for evaluator in evaluators:
            try:
                targets = evaluator.targets(session)
            except Exception as exc:  # one evaluator's bug must not stop the run
                logger.exception(
                    "targets failed evaluator=%s session=%s",
                    evaluator.identity.evaluator_id,
                    session.session_id,
                )
                failure = (ErrorCodes.EVALUATOR_ERROR, f"{type(exc).__name__}: {exc}")
                yield _Unit(evaluator, Target(session, "SESSION"), refs, failure)
                continue
            for target in targets:
                yield _Unit(evaluator, target, refs)


def _no_spans_message(session: Session) -> str:
    message = "Provided input has no spans to evaluate: no agent turn was found in the session"
    if session.errors:
        message += " (" + "; ".join(session.errors[:3]) + ")"
    return message


def _run_unit(unit: _Unit) -> list[EvaluationResult]:
    failure = unit.failure
    if failure is None:
        try:
            return unit.evaluator.evaluate(unit.target, unit.refs)
        except Exception as exc:  # isolation is the point
            logger.exception(
                "evaluator crashed evaluator=%s session=%s",
                unit.evaluator.identity.evaluator_id,
                unit.target.session.session_id,
            )
            failure = (ErrorCodes.EVALUATOR_ERROR, f"{type(exc).__name__}: {exc}")
    code, message = failure
    return [unit.evaluator.identity.error(unit.target, unit.refs, code, message)]


def run_evaluations(
    sessions: Sequence[Session],
    evaluators: Sequence[Evaluator],
    *,
    ground_truth: GroundTruth | None = None,
    max_workers: int = DEFAULT_MAX_WORKERS,
    on_results: Callable[[list[EvaluationResult]], None] | None = None,
) -> list[EvaluationResult]:
    """Every evaluator over every session; results in deterministic (session, evaluator, target) order.

    `on_results` sees each finished unit's results as they are emitted, in that same order (progress).
    """
    units = _units(sessions, evaluators, ground_truth or GroundTruth())
    results: list[EvaluationResult] = []

    def emit(batch: list[EvaluationResult]) -> None:
        results.extend(batch)
        if on_results is not None:
            on_results(batch)

    if max_workers <= 1:
        for unit in units:
            emit(_run_unit(unit))
        return results
    pending: deque[Future[list[EvaluationResult]]] = deque()  # submission order
    max_running, max_pending = max_workers * 2, max_workers * REORDER_FACTOR

    def emit_finished_head() -> None:
        while pending and pending[0].done():
            emit(pending.popleft().result())

    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="evaluate") as pool:
        for unit in units:
            pending.append(pool.submit(_run_unit, unit))
            emit_finished_head()
            while True:
                running = [f for f in pending if not f.done()]
                if len(running) < max_running and len(pending) < max_pending:
                    break
                if len(pending) >= max_pending:
                    pending[0].result()  # the reorder buffer is full: wait for the slow head
                else:
                    wait(running, return_when=FIRST_COMPLETED)
                emit_finished_head()
        for future in pending:
            emit(future.result())
    return results
