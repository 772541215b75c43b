"""The product's human-facing commands: job CLI, progress, reports, comparison (adapters over the domain)."""
