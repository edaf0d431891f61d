"""An agent's project and entity are its sweep's: ``-p Q -e R ID`` and ``R/Q/ID`` name the
same place, as in wandb (``wandb_agent.run_agent``), and one other than the sweep's is
refused as wandb's agent does not find the sweep there, rather than filing the runs where
the database (``Api``, ``show``, ``sync``) does not have them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import localsweep
from localsweep.errors import NotFoundError

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from cli_process import cli

CONFIG: dict[str, Any] = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"values": [1, 2, 3]}},
}

TRAIN = """\
import wandb

def train():
    with wandb.init() as run:
        run.log({"loss": run.config["x"]})
        with open("where.txt", "a") as f:
            f.write(f"{run.entity}/{run.project}\\n")
"""


@pytest.mark.slow
def test_both_forms_of_another_project_are_refused_and_the_sweeps_own_runs(
    tmp_path: Path,
) -> None:
    """``-p Q -e R ID`` put the wandb run in R/Q while the database said E/P; ``R/Q/ID``
    put it in E/P: two answers for one request."""
    (tmp_path / "t.py").write_text(TRAIN)
    sweep_id = localsweep.sweep(CONFIG, db=tmp_path / "s.db", project="P", entity="E")
    base = ["--db", "s.db", "--count", "1", "-f", "t:train"]
    for given in (["-p", "Q", "-e", "R", sweep_id], [f"R/Q/{sweep_id}"]):
        done = cli("agent", *base, *given)
        assert done.returncode == 2, done.stderr
        assert f"no sweep {sweep_id} in project 'Q' (the sweep's project is 'P')" in done.stderr
        assert "entity 'R' (the sweep's entity is 'E')" in done.stderr
    assert localsweep.Api(tmp_path / "s.db").sweep(sweep_id).runs == []
    assert not (tmp_path / "where.txt").exists()
    for given in (["-p", "P", "-e", "E", sweep_id], [f"E/P/{sweep_id}"]):
        done = cli("agent", *base, *given)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "where.txt").read_text().split() == ["E/P", "E/P"]
    runs = localsweep.Api(tmp_path / "s.db").sweep(sweep_id).runs
    assert [(r.entity, r.project) for r in runs] == [("E", "P"), ("E", "P")]


def test_python_agent_takes_the_path_as_wandb_agent_does(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sweep_id = localsweep.sweep(CONFIG, db=db, project="P")
    with pytest.raises(NotFoundError, match=f"no sweep {sweep_id} in project 'Q'"):
        localsweep.agent(f"Q/{sweep_id}", lambda config: 1.0, db=db, quiet=True)
    with pytest.raises(NotFoundError, match="project 'Q'"):
        localsweep.agent(sweep_id, lambda config: 1.0, db=db, project="Q", quiet=True)
    # The path's project wins over project=, as in wandb.agent.
    localsweep.agent(f"P/{sweep_id}", lambda config: 1.0, db=db, project="Q", count=1, quiet=True)
    assert len(localsweep.Api(db).sweep(sweep_id).runs) == 1


def test_a_sweep_without_a_project_takes_only_wandbs_name_for_none(tmp_path: Path) -> None:
    """Its runs are filed under ``uncategorized``: an agent naming another project would
    file them where ``Api`` says they are not."""
    db = tmp_path / "s.db"
    sweep_id = localsweep.sweep(CONFIG, db=db)
    said = "project 'Q' \\(the sweep's project is 'uncategorized'"
    with pytest.raises(NotFoundError, match=said):
        localsweep.agent(sweep_id, lambda config: 1.0, db=db, project="Q", quiet=True)
    localsweep.agent(f"uncategorized/{sweep_id}", lambda config: 1.0, db=db, count=1, quiet=True)
    (run,) = localsweep.Api(db).sweep(sweep_id).runs
    assert run.project == "uncategorized"


def test_a_sweep_without_an_entity_takes_the_entity_a_script_names_to_its_agent(
    tmp_path: Path,
) -> None:
    """``wandb sweep cfg.yaml`` then ``wandb agent -e team ID`` works on W&B when team is
    the user's default entity, which is not known offline: the agent takes it."""
    db = tmp_path / "s.db"
    sweep_id = localsweep.sweep(CONFIG, db=db, project="P")
    localsweep.agent(sweep_id, lambda config: 1.0, db=db, entity="team", count=1, quiet=True)
    localsweep.agent(f"team/P/{sweep_id}", lambda config: 1.0, db=db, count=1, quiet=True)
    assert len(localsweep.Api(db).sweep(sweep_id).runs) == 2


@pytest.mark.parametrize("where", [["Q/{id}"], ["{id}", "--project", "Q"]])
def test_slurm_refuses_another_project_before_queueing_agents_that_would_all_refuse_it(
    tmp_path: Path, where: list[str]
) -> None:
    (tmp_path / "t.py").write_text(TRAIN)
    sweep_id = localsweep.sweep(
        {**CONFIG, "program": "t.py"}, db=tmp_path / "localsweep.db", project="P"
    )
    argv = [part.format(id=sweep_id) for part in where]
    done = cli("slurm", *argv, "--agents", "2", "--dry-run")
    assert done.returncode == 2, done.stderr
    assert f"no sweep {sweep_id} in project 'Q' (the sweep's project is 'P')" in done.stderr
    assert "#SBATCH" not in done.stdout


@pytest.mark.parametrize("path", ["x/E/P/{id}", "E/P/{id}/", "P/"])
def test_a_sweep_path_of_more_than_three_parts_or_no_id_is_refused_as_wandb_refuses_it(
    tmp_path: Path, path: str
) -> None:
    # Its last three parts were taken: a project or a sweep '' the user never wrote.
    sweep_id = localsweep.sweep(CONFIG, db=tmp_path / "localsweep.db", project="P", entity="E")
    given = path.format(id=sweep_id)
    done = cli("agent", "--count", "1", given)
    assert done.returncode == 2, done.stderr
    assert "expected SWEEP_ID, PROJECT/SWEEP_ID or ENTITY/PROJECT/SWEEP_ID" in done.stderr
    assert "Traceback" not in done.stderr
    with pytest.raises(ValueError, match="expected SWEEP_ID"):
        localsweep.agent(given, lambda config: 1.0, db=tmp_path / "localsweep.db", quiet=True)
    assert localsweep.Api(tmp_path / "localsweep.db").sweep(sweep_id).runs == []
