"""Judge model backends, retries, rate limiting and token accounting.

Public API (import from the modules; this package imports nothing eagerly):
- `base`: `Judge`, `JudgeRequest` (its `deadline`), `JudgeResponse`, `TokenUsage`, `DeadlineJudge`,
  `DEADLINE_EXCEEDED`.
- `factory.make_judge(spec, clients=, model_id=, **options)`: `bedrock` or `openai:<base URL>`,
  wrapped as `RetryingJudge(RateLimitedJudge(backend))`.
- `bedrock.BedrockJudge`, `openai_compat.OpenAICompatJudge`: the backends.
- `retry.RetryingJudge`, `retry.RetryPolicy`: backoff with full jitter in a bounded budget.
- `ratelimit.RateLimiter`, `RateLimitedJudge`, `ModelLimits`, `InProcessBucketStore`;
  `ratelimit_dynamodb.DynamoDBBucketStore`: per-model TPM and in-flight limits, AIMD;
  `leases_dynamodb.DynamoDBSlotLeases`, `queue_dynamodb.DynamoDBTicketQueue`: the in-flight cap
  and first-come-first-served order shared by every Lambda invocation.
- `accounting.JudgeLedger`: token and throttle totals per model for the job summary.
- `fake.ScriptedJudge`: the scripted judge for tests and the labelled demo (never a model).
"""
