"""Sources as users name them, and what they are told: the project folder (``-R .``), the
natural glob ``wandb/*``, a damaged run file named on its own, Excel's non-UTF-8 CSV,
pandas' default ``to_json()``, ``~`` in ``DB#ID``, several bad sources at once, and a
source that is no string."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prior_configs import GRID, LR_OPT

import localsweep
from localsweep.config import parse_config
from localsweep.errors import PriorRunsError
from localsweep.priors import load_prior_runs


def _error(sources: list[str], config: dict[str, object] = GRID) -> str:
    with pytest.raises(PriorRunsError) as info:
        load_prior_runs(parse_config(config), sources)
    return str(info.value)


def test_the_project_folder_gives_the_runs_in_its_wandb_folder(
    hand_runs: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, ids = hand_runs
    monkeypatch.chdir(root)
    found = load_prior_runs(parse_config(LR_OPT), ["."])
    assert sorted(t.candidate.run_id for t in found.taken) == sorted(ids[:2])
    assert found.sources[0].kind == "3 wandb run folders in wandb"


def test_the_glob_wandb_star_leaves_out_wandbs_logs_and_takes_the_runs(
    hand_runs: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, ids = hand_runs
    monkeypatch.chdir(root)
    assert [p.name for p in Path("wandb").glob("debug*.log")]  # what wandb leaves there
    found = load_prior_runs(parse_config(LR_OPT), ["wandb/*"])
    assert sorted(t.candidate.run_id for t in found.taken) == sorted(ids[:2])


def test_a_glob_matching_no_run_or_table_says_so() -> None:
    Path("notes").mkdir()
    Path("notes/a.txt").write_text("x")
    Path("notes/b.log").write_text("x")
    said = _error(["notes/*"])
    assert "'notes/*': matches no wandb run folder, run file or runs table" in said


def test_a_damaged_run_file_named_on_its_own_is_named_by_its_path() -> None:
    Path("run-zzz.wandb").write_text("garbage\n")
    said = _error(["run-zzz.wandb"])
    assert "'run-zzz.wandb': cannot read its run file (" in said
    assert "'.'" not in said


def test_an_excel_csv_in_windows_1252_is_read() -> None:
    Path("excel.csv").write_bytes(
        b"Name,State,Notes,lr,batch_size,optimizer,loss\r\n"
        b"r1,finished,caf\xe9 run,0.001,16,adam,0.5\r\n"
    )
    (prior,) = load_prior_runs(parse_config(GRID), ["excel.csv"]).taken
    assert prior.candidate.config["Notes"] == "café run"


def test_a_utf16_csv_says_to_save_it_as_utf8() -> None:
    Path("u16.csv").write_bytes(
        "lr,batch_size,optimizer,loss\n0.001,16,adam,0.5\n".encode("utf-16")
    )
    said = _error(["u16.csv"])
    assert "it is not UTF-8" in said and "'CSV UTF-8 (Comma delimited)'" in said


PANDAS = {
    "summary": {"0": {"loss": 0.3}, "1": {"loss": 0.4}},
    "config": {
        "0": {"lr": 0.001, "batch_size": 16, "optimizer": "adam"},
        "1": {"lr": 0.01, "batch_size": 32, "optimizer": "sgd"},
    },
    "name": {"0": "a-1", "1": "b-2"},
}


@pytest.mark.parametrize("orient", ["columns", "index", "split", "records"])
def test_a_pandas_to_json_dump_is_read_in_any_orient(orient: str) -> None:
    rows = [{k: PANDAS[k][i] for k in PANDAS} for i in ("0", "1")]
    data: object = {
        "columns": PANDAS,  # pandas' default
        "index": dict(zip(("0", "1"), rows, strict=True)),
        "split": {
            "columns": list(PANDAS),
            "index": [0, 1],
            "data": [[r[k] for k in PANDAS] for r in rows],
        },
        "records": rows,
    }[orient]
    Path("runs.json").write_text(json.dumps(data))
    found = load_prior_runs(parse_config(GRID), ["runs.json"])
    assert [(t.candidate.name, t.metric) for t in found.taken] == [("a-1", 0.3), ("b-2", 0.4)]


def test_json_of_another_shape_names_the_orient_to_write() -> None:
    Path("runs.json").write_text('{"lr": 0.1}')
    assert 'df.to_json(orient="records")' in _error(["runs.json"])


def test_every_bad_source_is_said_at_once() -> None:
    Path("semi.csv").write_text("lr;batch_size;optimizer;loss\n0.001;16;adam;0.5\n")
    said = _error(["ls-nosuch", "semi.csv"])
    assert "(2 problems)" in said
    assert "'ls-nosuch': no such file or folder" in said
    assert "'semi.csv': none of its columns names a parameter" in said


def test_every_bad_table_of_a_glob_is_said_at_once() -> None:
    Path("ex").mkdir()
    Path("ex/a.csv").write_text("a,b,c\n1,2,3\n")
    Path("ex/b.csv").write_text("lr,batch_size,optimizer,loss\n0.001,16,adam,0.5\n")
    Path("ex/c.csv").write_text("lr,batch_size,optimizer,loss\n")
    said = _error(["ex/*.csv"])
    assert "(2 problems)" in said
    assert "ex/c.csv: holds no runs" in said
    assert "'ex/a.csv': none of its columns names a parameter" in said


def test_a_database_under_home_is_found_as_db_hash_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    old = localsweep.run(LR_OPT, lambda c: c["lr"], count=1, db=str(home / "old.db"))
    monkeypatch.setenv("HOME", str(home))
    found = load_prior_runs(parse_config(LR_OPT), [f"~/old.db#{old.id}"])
    assert [t.candidate.run_id for t in found.taken] == [old.runs[0].id]


def test_a_source_that_is_no_string_is_said_as_the_cli_says_a_bad_source() -> None:
    with pytest.raises(PriorRunsError) as info:
        localsweep.sweep(LR_OPT, prior_runs=[None], db="new.db")  # type: ignore[list-item]
    assert "None is no source: give each as a string or a path" in str(info.value)
    assert not Path("new.db").exists()
