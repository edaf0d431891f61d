"""What a person sees of ``localsweep.run`` in a Jupyter notebook (docs/python-api.md: "a
progress bar in a terminal or a notebook"). Each notebook runs in a real ipykernel with
PYTHONPATH at this checkout; nbclient executes it and, as JupyterLab does, routes what is
shown inside an Output widget (rich's bar) into that widget's saved state.

- The run's prints reach the cell as plain text, every one of them and in order, a line
  printed in parts and flushed included (``print(..., end="", flush=True)``, tqdm, Keras):
  rich's redirect of sys.stdout made that flush recurse through ipykernel.
- With ipywidgets, the bar's last frame counts every run done.
- Without ipywidgets (a kernel as VS Code sets one up), the plain per-run lines show, as
  under ``nohup``, and not rich's "install ipywidgets" warning. That kernel is started by
  a launcher that blocks the import (``sys.modules["ipywidgets"] = None``, so ``import
  ipywidgets`` raises ImportError as if it were not installed).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402

pytestmark = pytest.mark.slow

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CHECKOUT = Path(__file__).resolve().parents[2]

#: The kernel without ipywidgets: ipykernel's launcher with the import blocked.
NO_WIDGETS_LAUNCHER = (
    "import sys; sys.modules['ipywidgets'] = None; "
    "from ipykernel import kernelapp; kernelapp.launch_new_instance()"
)

SETUP = """\
import sys
import wandb
import localsweep

cfg = {"method": "grid", "metric": {"name": "loss", "goal": "minimize"},
       "parameters": {"x": {"values": [3, 1, 2]}}}

def train():
    with wandb.init() as run:
        x = run.config["x"]
        for step in range(40):
            print(f"x={x} step {step}")
            run.log({"loss": x + 1 / (step + 1)})
        print(f"x={x} epoch ...", end="", flush=True)
        print(" done")
        print(f"x={x} stdout encoding {sys.stdout.encoding}")
"""
SWEEP = "sweep = localsweep.run(cfg, train, db='nb.db')"
AFTER = "print(sorted((r.config['x'], r.state) for r in sweep.runs))"


def printed(x: int) -> str:
    """What ``train`` prints for ``x``, as a person reads it in the cell."""
    steps = "".join(f"x={x} step {step}\n" for step in range(40))
    return f"{steps}x={x} epoch ... done\nx={x} stdout encoding UTF-8\n"


def execute(tmp: Path, *, widgets: bool) -> Any:
    """Run the notebook in a fresh kernel in ``tmp``; the executed notebook."""
    name = "lsw-widgets" if widgets else "lsw-no-widgets"
    spec_dir = tmp / "jupyter" / "kernels" / name
    spec_dir.mkdir(parents=True)
    argv = (
        [sys.executable, "-m", "ipykernel_launcher"]
        if widgets
        else [sys.executable, "-c", NO_WIDGETS_LAUNCHER]
    )
    pythonpath = os.pathsep.join(p for p in (str(CHECKOUT), os.environ.get("PYTHONPATH")) if p)
    spec = {
        "argv": [*argv, "-f", "{connection_file}"],
        "display_name": name,
        "language": "python",
        "env": {
            "PYTHONPATH": pythonpath,
            "WANDB_MODE": "offline",
            "WANDB_DIR": str(tmp),
            "WANDB_DISABLE_GIT": "true",
        },
    }
    # wandb as a person has it (not the test session's WANDB_SILENT, nor its service).
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(spec_dir.parent)])
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code) for code in (SETUP, SWEEP, AFTER)]
    client = nbclient.NotebookClient(
        nb,
        km=KernelManager(kernel_name=name, kernel_spec_manager=specs),
        timeout=240,
        allow_errors=True,
        resources={"metadata": {"path": str(tmp)}},
    )
    client.execute(env=env)
    return nb


@pytest.fixture(scope="module")
def with_widgets(tmp_path_factory: pytest.TempPathFactory) -> Any:
    pytest.importorskip("ipywidgets")
    return execute(tmp_path_factory.mktemp("widgets"), widgets=True)


@pytest.fixture(scope="module")
def without_widgets(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return execute(tmp_path_factory.mktemp("no_widgets"), widgets=False)


def text_of(output: Any) -> str:
    """The text a person reads in one output (a stream's, or a display's plain text)."""
    if output.output_type == "stream":
        return str(output.text)
    if output.output_type == "error":
        return f"{output.ename}: {output.evalue}"
    return str(output.get("data", {}).get("text/plain", ""))


def stream(outputs: list[Any], name: str) -> str:
    """The text of a cell's ``stdout`` or ``stderr``, as it reads (colours left out)."""
    return ANSI.sub("", "".join(o.text for o in outputs if o.get("name") == name))


def everything(nb: Any) -> str:
    """All the text the notebook shows: its cells' outputs and its widgets'."""
    texts = [text_of(o) for cell in nb.cells for o in cell.outputs]
    for widget in widget_states(nb):
        texts += [str(o.get("text", o.get("data", {}).get("text/plain", ""))) for o in widget]
    return "\n".join(texts)


def widget_states(nb: Any) -> list[list[dict[str, Any]]]:
    """The outputs of each Output widget the notebook saved (what it shows now)."""
    saved = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    return [
        list(model["state"].get("outputs", []))
        for model in saved.get("state", {}).values()
        if model["model_name"] == "OutputModel"
    ]


KERNELS = ["with_widgets", "without_widgets"]


@pytest.mark.parametrize("kernel", KERNELS)
def test_runs_finish_in_a_notebook_when_train_flushes_part_of_a_line(
    kernel: str, request: pytest.FixtureRequest
) -> None:
    nb = request.getfixturevalue(kernel)
    shown = everything(nb)
    assert "RecursionError" not in shown, shown[-3000:]
    assert not [o for cell in nb.cells for o in cell.outputs if o.output_type == "error"]
    after = "".join(text_of(o) for o in nb.cells[2].outputs)
    assert after == "[(1, 'finished'), (2, 'finished'), (3, 'finished')]\n"


@pytest.mark.parametrize("kernel", KERNELS)
def test_prints_reach_the_cell_as_plain_text_all_of_them(
    kernel: str, request: pytest.FixtureRequest
) -> None:
    nb = request.getfixturevalue(kernel)
    outputs = nb.cells[1].outputs
    stdout = stream(outputs, "stdout")
    # Each run's text whole and in order, on the cell's stdout, as a script prints it.
    assert stdout == printed(3) + printed(1) + printed(2)
    # Nothing of it shown another way (a display per line), nor inside the bar's widget.
    for widget in widget_states(nb):
        assert not any("step" in str(o) for o in widget), widget
    displayed = [text_of(o) for o in outputs if o.output_type != "stream"]
    assert not any("step" in text for text in displayed), displayed


@pytest.mark.parametrize("kernel", KERNELS)
def test_wandb_shows_its_run_history_in_a_notebook(
    kernel: str, request: pytest.FixtureRequest
) -> None:
    nb = request.getfixturevalue(kernel)
    outputs = nb.cells[1].outputs
    stderr = stream(outputs, "stderr")
    # Each run's footer has the loss's sparkline (wandb leaves it out for a stream that
    # is not known to take unicode, as rich's FileProxy was, with no encoding).
    assert stderr.count("wandb: Run history:") == 3, stderr
    assert len(re.findall(r"wandb: loss [▁▂▃▄▅▆▇█]{10,}\n", stderr)) == 3, stderr


def test_the_bar_ends_showing_every_run_done(with_widgets: Any) -> None:
    # The cell shows the bar's widget and the runs' text, nothing else (no blank box).
    shown = [o for o in with_widgets.cells[1].outputs if o.output_type != "stream"]
    assert [text_of(o) for o in shown] == ["Output()"], shown
    widgets = widget_states(with_widgets)
    assert len(widgets) == 1, widgets
    last = ANSI.sub("", str(widgets[0][-1].get("data", {}).get("text/plain", "")))
    assert re.fullmatch(r"sweep ls-\w+ ━+ 3/3 [\d:]+ best loss=1\.025 \(run \w+\)\n", last), last


def test_without_ipywidgets_the_runs_show_as_plain_lines(without_widgets: Any) -> None:
    outputs = without_widgets.cells[1].outputs
    shown = everything(without_widgets)
    # rich's warning (tqdm's "IProgress not found", from optuna's import, is not ours).
    assert 'install "ipywidgets"' not in shown, shown[-3000:]
    assert not widget_states(without_widgets)
    stderr = stream(outputs, "stderr")
    lines = [line for line in stderr.splitlines() if line.startswith("[localsweep] ")]
    assert [re.sub(r"run [a-z0-9]{8}\b", "run ID", line) for line in lines] == [
        "[localsweep] run ID started (#0 of the sweep): x=3",
        "[localsweep] run ID finished loss=3.025 (1/3 done; best loss=3.025 (run ID))",
        "[localsweep] run ID started (#1 of the sweep): x=1",
        "[localsweep] run ID finished loss=1.025 (2/3 done; best loss=1.025 (run ID))",
        "[localsweep] run ID started (#2 of the sweep): x=2",
        "[localsweep] run ID finished loss=2.025 (3/3 done; best loss=1.025 (run ID))",
    ]
