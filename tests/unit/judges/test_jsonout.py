from __future__ import annotations

import pytest

from batcheval.judges.jsonout import extract_json_object


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"label": "Yes"}', {"label": "Yes"}),
        (
            'Verdict:\n```json\n{"label": "No", "why": "a {brace} inside"}\n```',
            {"label": "No", "why": "a {brace} inside"},
        ),
        ('[1, 2] then {"a": {"b": 1}}', {"a": {"b": 1}}),
        ('{not json} but later {"ok": true}', {"ok": True}),
    ],
)
def test_first_json_object_is_found(text, expected):
    assert extract_json_object(text) == expected


@pytest.mark.parametrize("text", ["", "no braces", "{broken", "[1, 2, 3]"])
def test_no_object_means_none_not_an_empty_verdict(text):
    assert extract_json_object(text) is None
