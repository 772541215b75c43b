"""The run engine: how a started job is discovered, scored batch by batch, aggregated and finalized.

Domain code behind the pipeline's step handlers (`batcheval.pipeline.handlers`); see docs/pipeline.md.
"""
