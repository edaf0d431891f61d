"""``run.summary`` read as wandb.Api's summary is: a key as an attribute, nested ones too
(wandb's ``SummarySubDict.__getattr__`` returns ``self[k]``), while it stays a ``dict``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import localsweep

CONFIG = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1]}}}


def _run(tmp_path: Path) -> localsweep.Run:
    def train(config: dict[str, Any]) -> dict[str, Any]:
        return {"loss": 0.5, "val": {"loss": 0.25, "deep": {"a": 1}}}

    (run,) = localsweep.run(CONFIG, train, db=str(tmp_path / "s.db"), quiet=True).runs
    return run


def test_summary_keys_read_as_attributes_as_in_wandb(tmp_path: Path) -> None:
    summary = _run(tmp_path).summary
    assert summary.loss == 0.5
    assert summary["val"].loss == summary.val.loss == 0.25
    assert summary.val.deep.a == 1
    assert summary.get("val").loss == 0.25


def test_a_missing_attribute_is_wandbs_key_error_and_python_attribute_error(
    tmp_path: Path,
) -> None:
    """wandb's ``summary.nope`` raises ``KeyError`` (``self[k]``); it is an
    ``AttributeError`` too, so ``hasattr`` and ``getattr(..., default)`` work."""
    summary = _run(tmp_path).summary
    with pytest.raises(KeyError, match="nope"):
        summary.nope  # noqa: B018
    with pytest.raises(AttributeError, match="nope"):
        summary.val.nope  # noqa: B018
    assert not hasattr(summary, "nope")
    assert getattr(summary, "nope", None) is None
    with pytest.raises(AttributeError):  # a leading underscore is never a key, as in wandb
        summary._step  # noqa: B018


def test_the_summary_stays_a_dict_with_a_plain_json_dict(tmp_path: Path) -> None:
    summary = _run(tmp_path).summary
    plain = {"loss": 0.5, "val": {"loss": 0.25, "deep": {"a": 1}}}
    assert isinstance(summary, dict) and summary == plain
    with pytest.raises(KeyError):
        summary["nope"]
    assert summary.get("nope", 3) == 3
    assert summary.keys() == plain.keys()  # dict's methods stay methods
    assert summary._json_dict == plain
    assert type(summary._json_dict["val"]["deep"]) is dict
    assert json.loads(json.dumps(summary)) == plain
    # The ui dumps dict(run.summary) so; nested dicts are no plain dicts any more.
    assert yaml.safe_load(yaml.safe_dump(dict(summary))) == plain
    assert yaml.safe_load(yaml.dump(summary)) == plain


def test_a_key_set_or_deleted_as_an_attribute_is_set_or_deleted_in_the_copy(
    tmp_path: Path,
) -> None:
    """wandb's ``summary.best = 0.1`` sets the key (``__setattr__`` is ``__setitem__``):
    it set a Python attribute here, which ``summary["best"]`` and the dict never saw."""
    run = _run(tmp_path)
    summary = run.summary
    summary.best = 0.1
    summary.val.extra = {"b": 2}
    assert summary["best"] == 0.1 and summary["val"]["extra"] == {"b": 2}
    assert summary.val.extra.b == 2
    summary["put"] = {"c": 3}
    summary.update({"merged": {"d": 4}}, also={"e": 5})
    assert summary.put.c == 3 and summary.merged.d == 4 and summary.also.e == 5
    assert summary.setdefault("made", {"f": 6}).f == 6
    del summary.loss
    assert "loss" not in summary
    with pytest.raises(KeyError):
        del summary.nope
    assert summary._json_dict["best"] == 0.1
    assert localsweep.Api(str(tmp_path / "s.db")).run(run.id).summary["loss"] == 0.5  # a copy


def test_a_dict_merged_in_with_or_or_a_copy_still_reads_keys_as_attributes(
    tmp_path: Path,
) -> None:
    """``summary |= {"e": {"f": 2}}`` put a plain dict in (``summary.e.f``: "'dict' object
    has no attribute 'f'") and ``summary.copy()`` was a plain ``dict`` (``.loss`` failed);
    both behave as ``update()`` and ``copy.copy(summary)`` do."""
    run = _run(tmp_path)
    summary = run.summary
    summary |= {"e": {"f": 2}}
    summary |= [("g", {"h": 3})]  # |= takes what update() takes, as dict's does
    assert summary.e.f == 2 and summary.g.h == 3
    kind = type(run.summary)
    assert type(summary) is kind

    copied = summary.copy()
    assert type(copied) is kind and copied == summary
    assert copied.loss == 0.5 and copied.val.deep.a == 1 and copied.e.f == 2
    copied.extra = 1
    assert "extra" not in summary  # a copy, shallow as dict.copy(): nested dicts shared
    assert copied.val is summary.val
    assert copied._json_dict == {**summary._json_dict, "extra": 1}

    merged = summary | {"m": {"n": 1}}
    assert type(merged) is kind and merged.m.n == 1 and "m" not in summary
    merged = {"m": {"n": 1}, "loss": 9} | summary
    assert merged.m.n == 1 and merged.loss == 0.5 and merged.val.loss == 0.25
    with pytest.raises(TypeError):
        summary | [("m", 1)]  # as a dict's |: only a dict
    assert localsweep.Api(str(tmp_path / "s.db")).run(run.id).summary == {
        "loss": 0.5,
        "val": {"loss": 0.25, "deep": {"a": 1}},
    }
