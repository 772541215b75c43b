"""API adapters: the five batch-evaluation operation handlers and the wire error mapping."""
