"""OpenTelemetry span parsing, session assembly and session discovery.

Public entry points (see docs/traces.md):

* `traces.files.load_sessions(path)` — a spans file → `SessionLoad(sessions, skipped)`;
* `traces.assemble.assemble(items)` — raw records (dicts or lines) → `Assembly(sessions, skipped)`,
  the one path every source uses;
* `traces.discovery` — `discover`, `InsightsDiscovery`, `FilterLogEventsDiscovery`, the S3 manifest,
  `load_session(source, ref)`;
* `traces.samples.generate` / `traces.sample_logs.write_samples` — realistic sample sessions;
* `traces.cli.register` — the `batcheval inspect` sub-command.

Module map: `records` (decoding, skip reasons) → `scopes` (which instrumentations count) → `spans`
(a span's role and fields, in the documented lookup order) → `content` (message text) → `assemble`
(dedup, join, group, turns) → `stream` (bounded-memory batches) → `files`; `render` for inspect.
"""
