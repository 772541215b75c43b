"""Lambda entry points for the state machine steps (adapters)."""
