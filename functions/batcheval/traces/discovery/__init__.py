"""Session discovery in CloudWatch Logs: which sessions a job evaluates, and loading them again.

source = InsightsDiscovery(logs)                  # production; FilterLogEventsDiscovery(logs) locally
result = discover(source, job["dataSourceConfig"]["cloudWatchLogs"], DiscoverySettings(), now_ns=...)
write_manifest(s3, bucket, key, result.refs, kms_key_id=key_arn)
session = load_session(source, ref)               # or source.load(refs) for a batch
"""

from batcheval.traces.discovery.base import DiscoverySettings, SessionSource, discover, load_session
from batcheval.traces.discovery.config import SourceQuery, parse_source
from batcheval.traces.discovery.filter_events import FilterLogEventsDiscovery
from batcheval.traces.discovery.insights import InsightsDiscovery
from batcheval.traces.discovery.manifest import read_manifest, write_manifest
from batcheval.traces.discovery.refs import DiscoveryResult, SessionRef, SessionStats

__all__ = [
    "DiscoveryResult",
    "DiscoverySettings",
    "FilterLogEventsDiscovery",
    "InsightsDiscovery",
    "SessionRef",
    "SessionSource",
    "SessionStats",
    "SourceQuery",
    "discover",
    "load_session",
    "parse_source",
    "read_manifest",
    "write_manifest",
]
