"""Per-session result records, CloudWatch output, metrics and aggregate statistics.

* `records.EvaluationResult` (`to_wire()` = EvaluationResultContent, `to_record()`/`from_record()`).
* `aggregate.summarize(results, policy_for=..., seed=...)` -> evaluatorSummaries (+ extended stats);
  `aggregate.session_counts(results, session_ids)` -> numberOfSessionsCompleted / Failed.
* `otel.to_log_record(result, ...)` -> the `gen_ai.evaluation.result` log record.
* `metrics.to_emf(result, ...)` -> the result's CloudWatch EMF document (Powertools serializer).
"""
