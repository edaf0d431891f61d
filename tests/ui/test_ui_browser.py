"""The live sweep page in a real headless Chromium, served by a real uvicorn over a real
SQLite store, while real agent processes run the sweep."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from ui_helpers import CONFIG, wait_for

import localsweep

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAYLOAD = (
    '</script><script>document.documentElement.setAttribute("data-pwned","1")</script>'
    "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','2')\">"
    "<b>bold</b> & co"
)
METRIC = "<i>acc</i></script>"

SLOW_AGENT = textwrap.dedent(
    """
    import sys, time
    import localsweep, wandb

    def train():
        run = wandb.init()
        for epoch in range(int(sys.argv[3])):
            wandb.log({"loss": 1.0 / (epoch + 1) + wandb.config["lr"]})
            time.sleep(float(sys.argv[4]))
        run.finish()

    localsweep.agent(sys.argv[1], train, db=sys.argv[2], count=int(sys.argv[5]))
    """
)


def _errors(driver: Any) -> str:
    return str(driver.find_element("id", "js-errors").get_attribute("data-count"))


def _attr(driver: Any, name: str) -> str | None:
    value = driver.find_element("tag name", "body").get_attribute(name)
    return str(value) if value is not None else None


def _start_agent(
    tmp_path: Path, sweep_id: str, db: str, epochs: int, pause: float, count: int
) -> subprocess.Popen[bytes]:
    script = tmp_path / "slow_agent.py"
    script.write_text(SLOW_AGENT)
    return subprocess.Popen(
        [sys.executable, str(script), sweep_id, db, str(epochs), str(pause), str(count)],
        cwd=tmp_path,
    )


def test_the_sweep_page_draws_every_plot_without_errors(
    driver: Any, serve: Any, small_sweep: localsweep.Sweep, artifacts: Path
) -> None:
    driver.get(serve() + f"sweeps/{small_sweep.id}")
    wait_for(lambda: int(_attr(driver, "data-updates") or 0) >= 1, what="the first update")
    # Parameter importance comes with a later update (it is computed on its own thread).
    wait_for(
        lambda: (
            "Computing" not in driver.find_element("css selector", '[data-part="importance"]').text
        ),
        timeout=60,
        what="the importance",
    )
    expected = len(driver.find_elements("css selector", ".ls-plot"))
    assert expected >= 5  # history, importance, parallel, slices, curves
    wait_for(
        lambda: len(driver.find_elements("css selector", ".js-plotly-plot")) == expected,
        what="every plot drawn",
    )
    assert _errors(driver) == "0", driver.find_element("id", "js-errors").text
    assert len(driver.find_elements("css selector", "#runs-table tbody tr")) == 5
    driver.save_screenshot(str(artifacts / "sweep-page.png"))


def test_a_run_that_logs_shows_up_live_with_its_curve(
    driver: Any,
    serve: Any,
    small_sweep: localsweep.Sweep,
    db: str,
    tmp_path: Path,
    artifacts: Path,
) -> None:
    driver.get(serve() + f"sweeps/{small_sweep.id}")
    wait_for(lambda: int(_attr(driver, "data-updates") or 0) >= 1, what="the first update")
    before = {r.id for r in localsweep.Api(db).sweep(small_sweep.id).runs}
    agent = _start_agent(tmp_path, small_sweep.id, db, epochs=8, pause=0.7, count=1)
    try:
        new_id = wait_for(
            lambda: {r.id for r in localsweep.Api(db).sweep(small_sweep.id).runs} - before,
            what="the agent's run",
        ).pop()
        # Its row appears, running, and its curve grows while it still runs.
        row = f'#runs-table tr[data-run="{new_id}"]'
        wait_for(lambda: driver.find_elements("css selector", row), what="the new run's row")

        def points() -> int:
            # Curves are drawn one trace per run state, each point labelled with its run.
            return int(
                driver.execute_script(
                    "var d = document.getElementById('plot-curves');"
                    "if (!d || !d.data) { return 0; }"
                    "var n = 0;"
                    "d.data.forEach(function (t) { (t.text || []).forEach(function (x, i) {"
                    f"  if (String(x).indexOf('{new_id}') >= 0 && t.y[i] !== null) {{ n += 1; }}"
                    "}); });"
                    "return n;"
                )
            )

        first = wait_for(points, timeout=20, what="the new run's curve")
        assert localsweep.Api(db).run(new_id).state == "running"
        wait_for(lambda: points() > first, timeout=20, what="the curve to grow")
        # It grew by the new points alone, appended to its trace (no redraw of the plot).
        wait_for(lambda: int(_attr(driver, "data-extended") or 0) >= 1, what="an extend")
        driver.save_screenshot(str(artifacts / "live.png"))
    finally:
        agent.wait(timeout=120)
    assert _errors(driver) == "0", driver.find_element("id", "js-errors").text


def test_the_pause_button_pauses_the_sweep_for_a_running_agent(
    driver: Any, serve: Any, small_sweep: localsweep.Sweep, db: str, tmp_path: Path
) -> None:
    driver.get(serve() + f"sweeps/{small_sweep.id}")
    wait_for(lambda: int(_attr(driver, "data-updates") or 0) >= 1, what="the first update")
    agent = _start_agent(tmp_path, small_sweep.id, db, epochs=3, pause=0.3, count=50)
    try:
        wait_for(
            lambda: len(localsweep.Api(db).sweep(small_sweep.id).runs) >= 7,
            timeout=60,
            what="the agent to start runs",
        )
        driver.find_element("css selector", '#controls button[data-action="pause"]').click()
        wait_for(lambda: _attr(driver, "data-control") == "paused", what="the pause")
        assert driver.find_element("id", "control-status").text == "sweep paused"
        assert localsweep.Api(db).sweep(small_sweep.id).state == "PAUSED"
        # Once the run in flight ends, the agent starts no other while paused.
        wait_for(
            lambda: all(
                r.state != "running" for r in localsweep.Api(db).sweep(small_sweep.id).runs
            ),
            timeout=60,
            what="the run in flight to end",
        )
        settled = len(localsweep.Api(db).sweep(small_sweep.id).runs)
        wait_for(
            lambda: "paused" in driver.find_element("id", "sweep-state").text,
            what="the page to show the state",
        )
        import time

        time.sleep(4)
        assert len(localsweep.Api(db).sweep(small_sweep.id).runs) == settled
    finally:
        agent.terminate()
        agent.wait(timeout=60)


def test_html_in_names_values_and_metric_names_shows_as_text(
    driver: Any, serve: Any, db: str
) -> None:
    config = {
        "name": PAYLOAD,
        "method": "grid",
        "metric": {"name": METRIC, "goal": "maximize"},
        "parameters": {"opt": {"values": [PAYLOAD, "plain"]}, "x": {"values": [1, 2]}},
    }

    def train(c: dict[str, Any]) -> float:
        return (2.0 if c["opt"] == PAYLOAD else 1.0) + c["x"]

    sweep = localsweep.run(config, train, count=4, db=db)
    base = serve()
    for path in ("", f"sweeps/{sweep.id}", f"runs/{sweep.runs[0].id}"):
        driver.get(base + path)
        if path.startswith("sweeps"):
            wait_for(lambda: int(_attr(driver, "data-polls") or 0) >= 1, what="a poll")
        html_tag = driver.find_element("tag name", "html").get_attribute("data-pwned")
        assert html_tag is None
        assert _errors(driver) == "0", driver.find_element("id", "js-errors").text
    driver.get(base + f"sweeps/{sweep.id}")
    wait_for(lambda: int(_attr(driver, "data-polls") or 0) >= 1, what="a poll")
    cells = [td.text for td in driver.find_elements("css selector", "#runs-table td")]
    assert PAYLOAD in cells
    heads = [th.text for th in driver.find_elements("css selector", "#runs-table th")]
    assert METRIC in heads
    assert PAYLOAD in driver.find_element("id", "page-title").text
    assert CONFIG["method"] == "random"


def test_a_large_table_shows_its_newest_rows_first_and_the_rest_on_asking(
    driver: Any, serve: Any, db: str
) -> None:
    from localsweep.agent import Agent, RunOutcome, RunRecorder
    from localsweep.config import load_config
    from localsweep.records import RunState
    from localsweep.store import RunRecord, Store

    def runner(run: RunRecord, recorder: RunRecorder) -> RunOutcome:
        recorder.on_log({"loss": run.config["lr"]}, 0)
        return RunOutcome(RunState.FINISHED, exit_code=0)

    store = Store(db)
    sweep_id = store.create_sweep(load_config(CONFIG)).id
    Agent(store, sweep_id, runner=runner, count=230).run()
    driver.get(serve() + f"sweeps/{sweep_id}")
    wait_for(lambda: int(_attr(driver, "data-polls") or 0) >= 1, what="a poll")
    # Read in one go: a poll may redraw the table between two WebDriver calls.
    first_cells = driver.execute_script(
        "return Array.from(document.querySelectorAll('#runs-table tbody tr'))"
        ".map(function (tr) { return tr.cells[0].textContent; });"
    )
    assert len(first_cells) == 200
    assert _attr(driver, "data-table-rows") == "230"
    assert first_cells[0] == "229"  # the newest run first
    more = driver.find_element("id", "runs-more")
    assert more.text == "show all 230 runs"
    more.click()
    wait_for(
        lambda: len(driver.find_elements("css selector", "#runs-table tbody tr")) == 230,
        what="every row",
    )
    assert not driver.find_element("id", "runs-more").is_displayed()
    assert _errors(driver) == "0", driver.find_element("id", "js-errors").text


MULTI_AGENT = textwrap.dedent(
    """
    import sys, time
    import localsweep, wandb

    def train():
        run = wandb.init()
        x = wandb.config["x"]
        for epoch in range(8):
            wandb.log({"loss": (x - 0.3) ** 2 / (epoch + 1), "acc": x * (epoch + 1) / 8})
            time.sleep(0.7)
        run.finish()

    localsweep.agent(sys.argv[1], train, db=sys.argv[2], count=1)
    """
)


def test_a_multi_objective_sweep_page_shows_the_pareto_set_and_each_objective_live(
    driver: Any, serve: Any, db: str, tmp_path: Path, artifacts: Path
) -> None:
    config = {
        "method": "custom",
        "metrics": [{"name": "loss"}, {"name": "acc", "goal": "maximize"}],
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
        "localsweep": {"seed": 4},
    }

    def train(c: dict[str, Any]) -> dict[str, float]:
        return {"loss": (c["x"] - 0.3) ** 2, "acc": c["x"]}

    sweep = localsweep.run(config, train, count=5, db=db, quiet=True)
    driver.get(serve() + f"sweeps/{sweep.id}")
    wait_for(lambda: int(_attr(driver, "data-updates") or 0) >= 1, what="the first update")
    front = {r.id for r in sweep.pareto_runs()}
    assert driver.find_element("id", "pareto-count").text == str(len(front))
    highlighted = {
        tr.get_attribute("data-run")
        for tr in driver.find_elements("css selector", "#runs-table tr.best")
    }
    assert highlighted == front
    script = tmp_path / "multi_agent.py"
    script.write_text(MULTI_AGENT)
    agent = subprocess.Popen([sys.executable, str(script), sweep.id, db], cwd=tmp_path)
    try:
        new_id = wait_for(
            lambda: (
                {r.id for r in localsweep.Api(db).sweep(sweep.id).runs} - {r.id for r in sweep.runs}
            ),
            what="the agent's run",
        ).pop()

        def points(axis: str) -> int:
            # The running run's points in one objective's panel of the learning curves.
            return int(
                driver.execute_script(
                    "var d = document.getElementById('plot-curves');"
                    "if (!d || !d.data) { return 0; }"
                    "var n = 0;"
                    "d.data.forEach(function (t) {"
                    f"  if ((t.yaxis || 'y') !== '{axis}') {{ return; }}"
                    "  (t.text || []).forEach(function (x, i) {"
                    f"    if (String(x).indexOf('{new_id}') >= 0 && t.y[i] !== null) {{ n += 1; }}"
                    "}); });"
                    "return n;"
                )
            )

        first = wait_for(lambda: points("y2"), timeout=20, what="the new run's acc curve")
        wait_for(lambda: points("y2") > first, timeout=20, what="the acc curve to grow")
        assert points("y") > 0
    finally:
        agent.wait(timeout=120)
    # Once it ended, the page's Pareto set is the sweep's.
    ended = localsweep.Api(db).sweep(sweep.id)
    wait_for(
        lambda: driver.find_element("id", "pareto-count").text == str(len(ended.pareto_runs())),
        what="the Pareto set to follow",
    )
    assert _errors(driver) == "0", driver.find_element("id", "js-errors").text
    driver.save_screenshot(str(artifacts / "multi-objective.png"))
