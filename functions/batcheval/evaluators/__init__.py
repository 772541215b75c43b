"""Evaluator registry, built-ins (LLM judge and code) and custom evaluators.

Public entry points (import from the modules; this package imports nothing so `batcheval --help`
stays fast):

* `registry`: `ALL_SPECS`, `get_spec`, `require_spec`, `known_ids`, `close_matches`, `score_policy`.
* `factory.EvaluatorFactory(judge=..., store=..., lambda_client=..., model_id=...)`:
  `check_ids(ids)` (request validation), `build(id)` / `build_all(ids)` -> runnable evaluators.
* `runner.run_evaluations(sessions, evaluators, ground_truth=..., max_workers=...)`.
* `report.evaluate_sessions(sessions, ids, factory=..., ground_truth=...)` -> results + summaries.
* `ground_truth.parse_ground_truth(sessionMetadata list)` -> `GroundTruth`.
* `definitions.parse_definition(CreateEvaluator document)`; `store.FileEvaluatorStore`,
  `store.DynamoEvaluatorStore`.
"""
