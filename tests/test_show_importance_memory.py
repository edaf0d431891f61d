"""`localsweep show` (and the summary `localsweep run` prints at its end) under a memory
cap the runs fit in: importing scikit-learn for the importance panel can fail there
(``ulimit -v``: SystemError or MemoryError from the import). The command printed a
traceback and exited 1 after every run was recorded; it says why the panel is left out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import localsweep
import localsweep.report
from localsweep.cli import cli

CONFIG = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}}


@pytest.mark.parametrize(
    "error", [SystemError("error return without exception set"), MemoryError()]
)
def test_an_importance_that_cannot_load_is_left_out_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException | type[BaseException]
) -> None:
    db = str(tmp_path / "s.db")
    sweep = localsweep.run(CONFIG, lambda c: float(c["x"]), db=db, quiet=True)

    def out_of_memory(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(localsweep.report, "parameter_importance", out_of_memory)
    shown = CliRunner().invoke(cli, ["show", sweep.id, "--db", db])
    assert shown.exit_code == 0, shown.output
    assert "parameter importance: left out, out of memory loading scikit-learn" in shown.output
    assert sweep.id in shown.output


@pytest.mark.parametrize("command", ["show", "report"])
def test_scikit_learn_that_cannot_be_mapped_is_not_said_to_be_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """Under a cap above the panel's bound but mostly used, loading scikit-learn's shared
    libraries fails with an ImportError: it is installed, and the message said it was not
    (`report` ended on it, `show` left the panel out with it)."""
    import types

    from localsweep.report import _extra

    db = str(tmp_path / "s.db")
    sweep = localsweep.run(CONFIG, lambda c: float(c["x"]), db=db, quiet=True)

    def unmappable(name: str) -> Any:
        if name == "sklearn":
            raise ImportError("libgomp.so.1: failed to map segment from shared object")
        return importlib.import_module(name)

    import importlib

    monkeypatch.setattr(_extra, "importlib", types.SimpleNamespace(import_module=unmappable))
    args = [command, sweep.id, "--db", db]
    if command == "report":
        args += ["-o", str(tmp_path / "r.html")]
    result = CliRunner().invoke(cli, args)
    text = " ".join(result.output.split())
    assert "not installed" not in text, result.output
    assert "scikit-learn, which is installed but could not be loaded" in text, result.output
    assert "failed to map segment" in text and "ulimit -v" in text


@pytest.mark.parametrize(
    ("error", "said", "hint"),
    [
        (
            ModuleNotFoundError("No module named 'scipy'", name="scipy"),
            "scikit-learn, which is installed but cannot be loaded: it needs scipy",
            False,
        ),
        (
            ImportError("cannot import name 'ComplexWarning' from 'numpy'"),
            "scikit-learn, which is installed but could not be loaded (cannot import name",
            False,
        ),
        (MemoryError(), "could not be loaded (MemoryError)", True),
    ],
    ids=["dependency-missing", "version-mismatch", "memory"],
)
def test_why_scikit_learn_cannot_be_loaded_is_said_as_it_is(
    monkeypatch: pytest.MonkeyPatch, error: BaseException, said: str, hint: bool
) -> None:
    """Not "not installed" for an installed package, and the memory hint only for a
    failure of memory."""
    import types

    from localsweep.report import MissingExtraError, _extra

    def failing(name: str) -> Any:
        raise error

    monkeypatch.setattr(_extra, "importlib", types.SimpleNamespace(import_module=failing))
    with pytest.raises(MissingExtraError) as raised:
        _extra.require("sklearn", "parameter importance")
    text = str(raised.value)
    assert said in text and "not installed;" not in text.split("it needs")[0], text
    assert ("ulimit -v" in text) is hint, text
