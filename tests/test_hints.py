"""What localsweep tells a person about a sweep that could not work as meant."""

from __future__ import annotations

from pathlib import Path

import pytest

import localsweep
from localsweep._hints import missing_program_message, unstartable_command_messages
from localsweep.errors import AgentError, ProgramNotFoundError


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("")
    (tmp_path / "train.py").write_text("")
    return tmp_path


def test_a_script_that_is_there_needs_no_hint(folder: Path) -> None:
    assert missing_program_message("train.py", None, folder) is None
    assert missing_program_message("src/train.py", None, folder) is None
    assert missing_program_message(str(folder / "train.py"), None, Path("/")) is None


def test_a_missing_script_is_named_with_the_closest_file_in_its_folder(folder: Path) -> None:
    text = missing_program_message("src/trian.py", None, folder)
    assert text is not None
    assert f"'src/trian.py' does not exist in {folder}" in text
    assert "Did you mean 'src/train.py'?" in text

    text = missing_program_message("evaluate.py", None, folder)
    assert text is not None and "Did you mean" not in text

    # Another script whose name shares only `.py` and a few letters is no suggestion.
    (folder / "tail.py").write_text("")
    text = missing_program_message("trainer.py", None, folder)
    assert text is not None and "Did you mean 'train.py'?" in text
    (folder / "train.py").unlink()
    text = missing_program_message("train.py", None, folder)
    assert text is not None and "Did you mean" not in text

    (folder / "run.py").mkdir()
    text = missing_program_message("run.py", None, folder)
    assert text is not None and "'run.py' is not a file" in text


@pytest.mark.parametrize(
    "command",
    [
        None,
        ["${env}", "${interpreter}", "${program}", "${args}"],
        ["${interpreter}", "${program}", "--epochs", "3", "${args_no_hyphens}"],
        ["${env}", "python", "${program}", "${args}"],  # as wandb's docs write it
        ["/usr/bin/python3.11", "${program}"],
    ],
)
def test_commands_that_hand_the_program_to_python_are_checked(
    folder: Path, command: list[str] | None
) -> None:
    assert missing_program_message("nope.py", command, folder) is not None


@pytest.mark.parametrize(
    "command",
    [
        ["${program}", "${args}"],  # an executable, found on PATH
        ["${env}", "bash", "-c", "cd job && python ${program}"],
        ["torchrun", "--nproc_per_node=2", "${program}", "${args}"],
        ["python", "-m", "${program}"],  # a module, found on sys.path
        ["python-wrapper", "${program}"],
    ],
)
def test_other_commands_may_run_a_program_from_anywhere(folder: Path, command: list[str]) -> None:
    assert missing_program_message("nope.py", command, folder) is None


def test_the_python_api_refuses_before_it_makes_a_sweep(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(folder)
    config = {
        "program": "trian.py",
        "method": "grid",
        "parameters": {"x": {"values": [1, 2]}},
    }
    with pytest.raises(ProgramNotFoundError, match=r"Did you mean 'train\.py'") as caught:
        localsweep.run(config, db=folder / "s.db")
    assert isinstance(caught.value, AgentError)
    assert not (folder / "s.db").exists()

    sweep_id = localsweep.sweep(config, db=folder / "s.db")
    with pytest.raises(ProgramNotFoundError, match=f"sweep {sweep_id}: the sweep's `program`"):
        localsweep.agent(sweep_id, db=folder / "s.db")
    assert localsweep.Api(folder / "s.db").sweep(sweep_id).runs == []


@pytest.mark.parametrize(
    "command",
    [["${env}", "${program}", "${args}"], ["${program}", "${args}"]],
)
def test_a_py_program_started_without_an_interpreter_is_warned_with_the_fix(
    folder: Path, command: list[str]
) -> None:
    (text,) = unstartable_command_messages("train.py", command, folder)
    assert "'train.py' itself, without `${interpreter}`" in text
    assert "Add `${interpreter}` before `${program}`" in text
    (text,) = unstartable_command_messages("./train.py", command, folder)
    assert "not executable" in text


def test_an_executable_script_or_a_command_with_an_interpreter_is_not_warned(
    folder: Path,
) -> None:
    (folder / "train.py").chmod(0o755)
    assert unstartable_command_messages("./train.py", ["${env}", "${program}"], folder) == []
    for command in (
        ["${env}", "${interpreter}", "${program}", "${args}"],
        ["${env}", "python", "${program}", "${args}"],
        ["python", "-m", "${program}"],
        ["torchrun", "--nproc_per_node=2", "${program}", "${args}"],
        ["${env}", "bash", "-c", "cd job && python ${program}"],
    ):
        assert unstartable_command_messages("train.py", command, folder) == [], command
    assert unstartable_command_messages("run.sh", ["${env}", "${program}"], folder) == []


def test_an_interpreter_that_is_not_on_path_is_warned(folder: Path) -> None:
    command = ["${env}", "python4", "${program}", "${args}"]
    (text,) = unstartable_command_messages("train.py", command, folder)
    assert "'python4', which is not a program on PATH" in text
