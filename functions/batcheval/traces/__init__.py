"""OpenTelemetry span parsing, session assembly and session discovery."""
