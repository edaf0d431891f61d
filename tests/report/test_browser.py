"""The report opened in headless Chromium: it draws every plot without a JavaScript
error, and user text shows as text."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import localsweep
from localsweep.report import write_report

if TYPE_CHECKING:
    from conftest import Browser

# Each test starts Chromium (and one takes a screenshot): several seconds each.
pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAYLOAD = (
    '</script><script>document.documentElement.setAttribute("data-pwned","1")</script>'
    "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','2')\">"
    "<b>bold</b> & co"
)
METRIC = "<i>acc</i></script>"


def _assert_renders(browser: Browser, path: Path) -> Any:
    page = browser.open(path)
    assert page.attribute("js-errors", "data-count") == "0", page.js_errors()
    assert page.js_errors() == ""
    expected = int(page.body_attribute("data-plots-expected") or "-1")
    assert expected > 0
    assert page.body_attribute("data-plots-rendered") == str(expected)
    assert page.plot_divs() == expected
    # localsweep's own containers, by a class plotly.js does not use itself (plotly.js 2
    # draws a <g class="plot"> inside every chart).
    assert len(re.findall(r'<div class="ls-plot\b', page.dom)) == expected
    return page


def test_the_report_draws_every_plot_without_errors(
    browser: Browser, hyperband_sweep: localsweep.Sweep, tmp_path: Path, artifacts: Path
) -> None:
    path = write_report(hyperband_sweep, tmp_path / "report.html")
    page = _assert_renders(browser, path)
    best = hyperband_sweep.best_run()
    assert best is not None
    assert re.search(rf'<tr class="best"[^>]*><td class="num">\d+</td><td>{best.id}</td>', page.dom)
    assert page.body_attribute("data-table-rows") == str(len(hyperband_sweep.runs))
    # One slice plot per parameter, plus history, importance, parallel coordinates, curves.
    assert page.body_attribute("data-plots-expected") == str(4 + 4)
    shutil.copy(path, artifacts / "report.html")
    browser.screenshot(path, artifacts / "report.png")


def test_html_in_values_and_metric_names_shows_as_text(
    browser: Browser, tmp_path: Path, artifacts: Path
) -> None:
    config = {
        "method": "grid",
        "metric": {"name": METRIC, "goal": "maximize"},
        "parameters": {"opt": {"values": [PAYLOAD, "plain"]}, "x": {"values": [1, 2]}},
    }

    def train(c: dict[str, Any]) -> float:
        return (2.0 if c["opt"] == PAYLOAD else 1.0) + c["x"]

    sweep = localsweep.run(config, train, count=4, db=tmp_path / "s.db")
    path = write_report(sweep, tmp_path / "report.html")
    page = _assert_renders(browser, path)
    html_tag = re.search(r"<html[^>]*>", page.dom)
    assert html_tag is not None and "pwned" not in html_tag.group(0)
    assert PAYLOAD in page.texts("td")
    assert METRIC in page.texts("th")
    svg_text = page.texts("text")
    # Plotly reads <b> and entities as markup; the report hands it text it shows as is.
    assert any(PAYLOAD in t for t in svg_text)
    assert METRIC in svg_text
    assert not any("&lt;" in t or "&amp;" in t for t in svg_text)
    shutil.copy(path, artifacts / "hostile.html")


def test_the_runs_table_sorts_by_a_clicked_column(
    browser: Browser, hyperband_sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    path = write_report(hyperband_sweep, tmp_path / "report.html")
    # Click the metric's header once (ascending) and again (descending), recording the
    # first row's id after each.
    clicks = """<script>
      var th = document.querySelector('#runs-table th[data-col="4"]');
      th.click();
      var first = function () {
        return document.querySelector('#runs-table tbody td:nth-child(2)').textContent;
      };
      document.body.setAttribute("data-first-ascending", first());
      th.click();
      document.body.setAttribute("data-first-descending", first());
    </script></body>"""
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.rindex("</body>")] + clicks + "\n</html>\n", encoding="utf-8")
    page = browser.open(path)
    scored = [r for r in hyperband_sweep.runs if r.metric is not None]
    lowest = min(scored, key=lambda r: r.metric or 0.0)
    highest = max(scored, key=lambda r: r.metric or 0.0)
    assert page.body_attribute("data-first-ascending") == lowest.id
    assert page.body_attribute("data-first-descending") == highest.id


@pytest.mark.slow
def test_the_report_of_a_wandb_sweep_renders(
    browser: Browser, wandb_sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    path = write_report(wandb_sweep, tmp_path / "report.html")
    page = _assert_renders(browser, path)
    best = wandb_sweep.best_run()
    assert best is not None and best.config["width"] == 32
    assert html.escape(best.id) in page.dom
    assert page.body_attribute("data-table-rows") == "4"


def test_a_multi_objective_report_draws_every_objective_without_errors(
    browser: Browser, tmp_path: Path, artifacts: Path
) -> None:
    config = {
        "method": "custom",
        "metrics": [{"name": "loss"}, {"name": "acc", "goal": "maximize"}],
        "parameters": {"x": {"min": 0.0, "max": 1.0}, "noise": {"values": [0, 1, 2]}},
        "localsweep": {"seed": 2},
    }

    def train(c: dict[str, Any]) -> dict[str, float]:
        return {"loss": (c["x"] - 0.2) ** 2, "acc": c["x"]}

    sweep = localsweep.run(config, train, count=12, db=tmp_path / "s.db", quiet=True)
    path = write_report(sweep, tmp_path / "report.html")
    page = _assert_renders(browser, path)
    # History, parallel coordinates, 2 slice plots, 2 importance plots, the Pareto front,
    # learning curves.
    assert page.body_attribute("data-plots-expected") == str(8)
    highlighted = re.findall(
        r'<tr class="best"[^>]*><td class="num">\d+</td><td>(\w+)</td>', page.dom
    )
    assert sorted(highlighted) == sorted(r.id for r in sweep.pareto_runs())
    svg_text = page.texts("text")
    assert "loss (minimize)" in svg_text and "acc (maximize)" in svg_text
    shutil.copy(path, artifacts / "report-multi-objective.html")
    browser.screenshot(path, artifacts / "report-multi-objective.png")
