"""Result files are read whatever wrote them: JSON Lines or one JSON document, with or without a BOM."""

import codecs
import gzip
import json

import pytest

from batcheval.product.results_source import load_file
from tests.unit.product.results_factory import HELPFUL, record


@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF8], ids=["plain", "utf8-bom"])
@pytest.mark.parametrize("shape", ["jsonl", "document", "gzip-jsonl"])
def test_result_files_load_in_every_accepted_shape(tmp_path, bom, shape):
    # Given two result records written as JSON Lines or as `evaluate --format json` prints them,
    # saved with or without a UTF-8 byte-order mark (editors on Windows add one)
    records = [record("s1", HELPFUL, 1.0), record("s2", HELPFUL, 0.5, explanation="naïve ✓")]
    if shape == "document":
        text = json.dumps({"results": records, "evaluatorSummaries": []}, indent=2, ensure_ascii=False)
    else:
        text = "".join(json.dumps(r) + "\n" for r in records)
    data = bom + text.encode()
    path = tmp_path / "results.json"
    path.write_bytes(gzip.compress(data) if shape == "gzip-jsonl" else data)

    # When loaded
    loaded = load_file(str(path))

    # Then every record is read as written
    assert loaded.results == records
