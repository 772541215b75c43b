"""The HTML report in a real headless Chromium: charts drawn, no script errors, the page's numbers right.

Skips (saying why) when no Chromium is installed; `.ci/run` installs Debian's `chromium`.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from batcheval.cli import main
from tests.unit.product.results_factory import HELPFUL, TOOLS, run

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no headless Chromium on this machine (Debian: apt-get install -y chromium)"
)


def _chromium(tmp_path: Path, page: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    assert BROWSER is not None
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [
        BROWSER,
        *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"),
        *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1200,2600",
        "--virtual-time-budget=20000",
        *mode,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    # Given a seeded run and a baseline, reported to HTML with a comparison
    tmp = tmp_path_factory.mktemp("report")
    records = run(seed=11)
    candidate = tmp / "candidate.jsonl"
    candidate.write_text("".join(json.dumps(r) + "\n" for r in records))
    baseline = tmp / "baseline.jsonl"
    baseline.write_text("".join(json.dumps(r) + "\n" for r in run(seed=11, shift=0.1)))
    page = tmp / "report.html"
    assert main(["report", str(candidate), "--baseline", str(baseline), "--html", str(page)]) == 0
    dom = _chromium(tmp, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    return tmp, page, records, dom


def test_every_chart_renders_without_script_errors(report):
    _, page, _, dom = report
    charts = page.read_text().count('class="chart"')
    # Then the page says every chart was drawn, each as plotly SVG, and no script failed
    assert charts >= 5
    assert f'data-rendered="{charts}"' in dom.stdout
    assert dom.stdout.count('class="main-svg"') >= charts
    html_tag = re.search(r"<html[^>]*>", dom.stdout)
    assert html_tag is not None
    assert "data-js-errors" not in html_tag.group(0)
    console_errors = [line for line in dom.stderr.splitlines() if "CONSOLE" in line and "rror" in line]
    assert console_errors == []


def test_the_numbers_on_the_page_are_the_data(report):
    _, _, records, dom = report
    # Given the means and pass rates computed here, independently of the report code
    helpful = [r["value"] for r in records if r["evaluatorId"] == HELPFUL]
    tools = [r["value"] for r in records if r["evaluatorId"] == TOOLS and "value" in r]
    expected = {
        (HELPFUL, "mean"): sum(helpful) / len(helpful),
        (HELPFUL, "passRate"): sum(v >= 0.5 for v in helpful) / len(helpful),
        (TOOLS, "mean"): sum(tools) / len(tools),
        (TOOLS, "passRate"): sum(v <= 0 for v in tools) / len(tools),
        (TOOLS, "failed"): 1,
    }
    # Then the summary table shows them
    for (evaluator, metric), value in expected.items():
        match = re.search(
            rf'data-evaluator="{re.escape(evaluator)}" data-metric="{metric}">([^<]*)<', dom.stdout
        )
        assert match is not None, (evaluator, metric)
        assert math.isclose(float(match.group(1)), value, abs_tol=0.0005), (evaluator, metric)
    # And the drawn pass-rate bars carry the same numbers (plotly's rendered bar labels)
    labels = re.findall(
        r'class="bartext[^"]*"[^>]*>.*?<tspan[^>]*>([0-9.]+)</tspan>|class="bartext[^"]*"[^>]*>([0-9.]+)<',
        dom.stdout,
    )
    drawn = {a or b for a, b in labels}
    assert f"{expected[(HELPFUL, 'passRate')]:.3f}" in drawn
    assert f"{expected[(TOOLS, 'passRate')]:.3f}" in drawn


def test_the_screenshot_is_not_blank(report):
    from PIL import Image

    tmp, page, _, _ = report
    shot = tmp / "shot.png"
    taken = _chromium(tmp, page, f"--screenshot={shot}")
    assert taken.returncode == 0, taken.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    # Charts and text: many distinct colours, and the chart blue present (a blank page has one colour)
    assert colours is not None
    assert len(colours) > 50
    chart_blue = (0x3B, 0x6F, 0xD8)
    rgbs = [rgb for _, rgb in colours if isinstance(rgb, tuple)]
    assert any(all(abs(c - want) < 8 for c, want in zip(rgb, chart_blue, strict=True)) for rgb in rgbs)
