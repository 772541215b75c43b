"""From evaluator ids to runnable evaluators: the one place that knows every kind.

The judge and the Lambda client are created only if a requested evaluator needs them (providers
are called lazily, once), so a run of code evaluators needs no AWS credentials at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

from batcheval.errors import FieldIssue, ValidationError
from batcheval.evaluators.base import Evaluator, EvaluatorIdentity
from batcheval.evaluators.code import code_evaluator
from batcheval.evaluators.custom import CustomJudgeEvaluator, LambdaCodeEvaluator
from batcheval.evaluators.definitions import CodeConfig, CustomEvaluatorDefinition, DerivedConfig
from batcheval.evaluators.llm_judge import BuiltinJudgeEvaluator
from batcheval.evaluators.registry import close_matches, get_spec, known_ids
from batcheval.evaluators.store import EvaluatorStore
from batcheval.judges.base import Judge

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

T = TypeVar("T")


class _Lazy(Generic[T]):
    """Calls a provider at most once, thread-safely."""

    def __init__(self, provider: Callable[[], T] | None, what: str) -> None:
        self._provider = provider
        self._what = what
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            if self._value is None:
                if self._provider is None:
                    raise ValidationError(f"no {self._what} configured")
                self._value = self._provider()
            return self._value


class EvaluatorFactory:
    """Builds evaluators by id: built-ins and ours from the registry, custom ones from a store."""

    def __init__(
        self,
        *,
        judge: Callable[[], Judge] | None = None,
        store: EvaluatorStore | None = None,
        lambda_client: Callable[[], LambdaClient] | None = None,
        model_id: str | None = None,
    ) -> None:
        self._judge = _Lazy(judge, "judge")
        self._lambda = _Lazy(lambda_client, "Lambda client")
        self._store = store
        self._model_id = model_id

    def needs_judge(self, evaluator_id: str) -> bool:
        spec = get_spec(evaluator_id)
        if spec is not None:
            return spec.kind == "llm_judge"
        definition = self._definition(evaluator_id)
        return not isinstance(definition.config, CodeConfig)

    def build_all(self, evaluator_ids: Sequence[str]) -> list[Evaluator]:
        """Evaluators for `evaluator_ids`; every unknown id is reported in one ValidationError."""
        self.check_ids(evaluator_ids)
        return [self.build(eid) for eid in evaluator_ids]

    def check_ids(self, evaluator_ids: Sequence[str]) -> None:
        """Raise one ValidationError naming each unknown id as `evaluators[i].evaluatorId`, with hints.

        For request validation (StartBatchEvaluation) before any evaluator is built.
        """
        unknown = [(i, eid) for i, eid in enumerate(evaluator_ids) if not self.exists(eid)]
        if unknown:
            raise unknown_evaluators_error(unknown, self.all_ids())

    def exists(self, evaluator_id: str) -> bool:
        if get_spec(evaluator_id) is not None:
            return True
        return self._store is not None and self._store.get(evaluator_id) is not None

    def all_ids(self) -> list[str]:
        custom = [d.evaluator_id for d in self._store.list()] if self._store is not None else []
        return known_ids() + custom

    def build(self, evaluator_id: str) -> Evaluator:
        spec = get_spec(evaluator_id)
        if spec is not None:
            if spec.kind == "code":
                return code_evaluator(spec)
            return BuiltinJudgeEvaluator.for_spec(spec, self._judge.get(), model_id=self._model_id)
        return self._custom(self._definition(evaluator_id))

    def _definition(self, evaluator_id: str) -> CustomEvaluatorDefinition:
        definition = self._store.get(evaluator_id) if self._store is not None else None
        if definition is None:
            raise unknown_evaluators_error([(0, evaluator_id)], self.all_ids())
        return definition

    def _custom(self, definition: CustomEvaluatorDefinition) -> Evaluator:
        config = definition.config
        if isinstance(config, CodeConfig):
            return LambdaCodeEvaluator(definition, self._lambda.get())
        if isinstance(config, DerivedConfig):
            base = get_spec(config.base_evaluator_id)
            assert base is not None  # parse_definition checked it
            return BuiltinJudgeEvaluator(
                spec=base,
                judge=self._judge.get(),
                identity=EvaluatorIdentity(
                    definition.evaluator_id, definition.evaluator_name, definition.evaluator_arn
                ),
                model_id=config.model.model_id,
                max_tokens=config.model.max_tokens,
                temperature=config.model.temperature or 0.0,
            )
        return CustomJudgeEvaluator(definition, self._judge.get())


def unknown_evaluators_error(unknown: Sequence[tuple[int, str]], candidates: list[str]) -> ValidationError:
    """One ValidationError for (position, id) pairs, each message with close matches if any."""
    issues = []
    for index, eid in unknown:
        hints = close_matches(eid, candidates)
        hint = f"; did you mean {', '.join(hints)}?" if hints else ""
        issues.append(FieldIssue(f"evaluators[{index}].evaluatorId", f"unknown evaluator {eid!r}{hint}"))
    return ValidationError("; ".join(i.message for i in issues), fields=issues)


def check_registered_ids(owner: str, evaluator_ids: Sequence[str]) -> None:
    """Start-time check: `Builtin.*` / `ThirdParty.*` ids must be ones this deployment ships.

    Such ids can never become valid later, so a typo is a ValidationException at Start rather than a
    failed job. Custom evaluator ids (`<name>-<10 alphanumerics>`) are resolved per owner when the job
    runs; a missing one then becomes that evaluator's per-session error.
    """
    del owner  # registry ids are the same for every tenant
    unknown = [
        (index, eid)
        for index, eid in enumerate(evaluator_ids)
        if eid.startswith(("Builtin.", "ThirdParty.")) and get_spec(eid) is None
    ]
    if unknown:
        raise unknown_evaluators_error(unknown, known_ids())
