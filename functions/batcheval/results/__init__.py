"""Per-session result records, CloudWatch output, metrics and aggregate statistics."""
