"""The CDK app that deploys batcheval: `python -m infra.app` (what `make synth` and cdk.json run)."""
