from datetime import UTC, datetime

import pytest

from batcheval.errors import ValidationError
from batcheval.traces.discovery import DiscoverySettings, SessionStats, parse_source
from batcheval.traces.discovery.refs import select_sessions


def test_data_source_config_converts_every_timestamp_form():
    # Given the time range as datetime, ISO text and epoch seconds
    for start in (datetime(2026, 11, 20, tzinfo=UTC), "2026-11-20T00:00:00Z", 1795132800):
        config = {
            "serviceNames": ["A.DEFAULT"],
            "logGroupNamePrefixes": ["/aws/bedrock-agentcore/runtimes/"],
            "filterConfig": {
                "timeRange": {"startTime": start, "endTime": 1795132801.5},
                "sessionTraceIds": [{"sessionId": "s1", "traceIds": ["t1", "t2"]}],
            },
        }
        # When parsed, Then times are epoch ns and the trace filter implies its sessions
        query = parse_source(config)
        assert query.start_ns == 1795132800 * 10**9
        assert query.end_ns == 1795132801_500_000_000
        assert query.trace_filter == {"s1": frozenset({"t1", "t2"})}
        assert query.session_allowed("s1")
        assert not query.session_allowed("s2")


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"serviceNames": [], "logGroupNames": ["g"]}, "serviceNames"),
        ({"serviceNames": ["a", "b"], "logGroupNames": ["g"]}, "serviceNames"),
        ({"serviceNames": ["a"]}, "logGroupNames"),
        (
            {
                "serviceNames": ["a"],
                "logGroupNames": ["g"],
                "filterConfig": {"timeRange": {"startTime": "soon"}},
            },
            "startTime",
        ),
        (
            {
                "serviceNames": ["a"],
                "logGroupNames": ["g"],
                "filterConfig": {"timeRange": {"startTime": 20, "endTime": 10}},
            },
            "timeRange",
        ),
        *(
            (
                {
                    "serviceNames": ["a"],
                    "logGroupNames": ["g"],
                    "filterConfig": {"timeRange": {"startTime": t}},
                },
                "startTime",
            )
            for t in (float("nan"), float("inf"), "inf", 1e300, -1)
        ),
        ({"serviceNames": ["a"], "logGroupNames": "/aws/spans"}, "logGroupNames"),
        (
            {"serviceNames": ["a"], "logGroupNames": ["g"], "filterConfig": {"sessionIds": "s-1"}},
            "sessionIds",
        ),
        (
            {
                "serviceNames": ["a"],
                "logGroupNames": ["g"],
                "filterConfig": {"sessionTraceIds": [{"traceIds": ["t"]}]},
            },
            "sessionTraceIds[0].sessionId",
        ),
    ],
)
def test_bad_data_source_config_names_the_field(config, field):
    with pytest.raises(ValidationError) as error:
        parse_source(config)
    assert field in error.value.fields[0].name


def test_selection_keeps_the_most_recent_settled_sessions_ties_by_id():
    # Given five sessions, two of them active at the same last moment and one still active
    stats = [
        SessionStats(sid, 0, last, 3) for sid, last in [("a", 10), ("b", 30), ("c", 30), ("d", 20), ("e", 95)]
    ]
    query = parse_source({"serviceNames": ["svc"], "logGroupNames": ["g"]})

    # When at most two are kept with the window ending at 100 and a settle time of 10
    result = select_sessions(stats, query, ("g",), window_end_ns=100, max_sessions=2, settle_ns=10)

    # Then the still-active one is unsettled, and the two most recent of the rest are kept
    assert [r.session_id for r in result.refs] == ["b", "c"]
    assert (result.total, result.ignored_unsettled, result.ignored_over_cap) == (5, 1, 2)


def test_settings_reject_nonsense():
    with pytest.raises(ValueError, match="max_sessions"):
        DiscoverySettings(max_sessions=0)
