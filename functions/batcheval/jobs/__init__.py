"""Job domain: JobService, JobStore, status transitions, tenancy, pagination tokens."""
