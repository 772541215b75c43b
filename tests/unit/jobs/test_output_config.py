from batcheval.jobs.output import DEFAULT_LOG_GROUP, resolve_output_config

SOURCE = {"cloudWatchLogs": {"serviceNames": ["svc"], "logGroupNames": ["/aws/spans-a", "/aws/spans-b"]}}


def test_no_output_config_resolves_to_the_dedicated_default_group_and_the_job_stream():
    assert resolve_output_config(None, "job-1", SOURCE) == {
        "cloudWatchConfig": {
            "resultDestination": "DEDICATED_LOG_GROUP",
            "logGroupName": DEFAULT_LOG_GROUP,
            "logStreamName": "job-1",
            "metricsNamespace": "Bedrock-AgentCore/Evaluations",
        }
    }


def test_source_log_group_is_the_first_source_group_or_the_first_one_discovered():
    requested = {"cloudWatchConfig": {"resultDestination": "SOURCE_LOG_GROUP"}}
    assert resolve_output_config(requested, "j", SOURCE)["cloudWatchConfig"]["logGroupName"] == "/aws/spans-a"
    by_prefix = {"cloudWatchLogs": {"serviceNames": ["svc"], "logGroupNamePrefixes": ["/aws/"]}}
    # Before discovery the group is unknown (not invented); after it, the first resolved group
    assert "logGroupName" not in resolve_output_config(requested, "j", by_prefix)["cloudWatchConfig"]
    resolved = resolve_output_config(requested, "j", by_prefix, source_log_groups=("/aws/x", "/aws/y"))
    assert resolved["cloudWatchConfig"]["logGroupName"] == "/aws/x"


def test_given_values_are_kept():
    requested = {"cloudWatchConfig": {"logGroupName": "/mine", "logStreamName": "s", "metricsNamespace": "N"}}
    config = resolve_output_config(requested, "j", SOURCE)["cloudWatchConfig"]
    assert (config["logGroupName"], config["logStreamName"], config["metricsNamespace"]) == (
        "/mine",
        "s",
        "N",
    )
