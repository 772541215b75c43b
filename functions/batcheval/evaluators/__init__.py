"""Evaluator registry, built-ins (LLM judge and code) and custom evaluators."""
