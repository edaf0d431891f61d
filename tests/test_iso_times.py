"""ISO times as wandb, its filters and spreadsheets write them read the same on every
supported Python: Python 3.10's ``datetime.fromisoformat`` refuses ``Z``, ``+0000``, a
fraction other than 3 or 6 digits and the basic form, where 3.11's reads them all."""

from __future__ import annotations

import re
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import localsweep
from localsweep import Api
from localsweep.config import parse_config
from localsweep.priors import load_prior_runs
from localsweep.records import naive_utc

NOON = datetime(2024, 1, 1, 12, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01T12:00:00Z", NOON),
        ("2024-01-01T12:00:00+0000", NOON),
        ("2024-01-01T12:00:00+00", NOON),
        ("2024-01-01T14:30:00+02:30", NOON),
        ("2024-01-01T09:00:00-0300", NOON),
        ("2024-01-01T12:00:00.5Z", NOON.replace(microsecond=500_000)),
        ("2024-01-01T12:00:00,25", NOON.replace(microsecond=250_000)),
        ("2024-01-01T12:00:00.1234567Z", NOON.replace(microsecond=123_456)),
        ("2024-01-01T12:00:00.123+00:00", NOON.replace(microsecond=123_000)),
        ("20240101T120000Z", NOON),
        ("20240101T1200", NOON),
        ("2024-01-01T12Z", NOON),
        ("2024-01-01 12:00", NOON),
        ("2024-01-01", datetime(2024, 1, 1)),
        ("20240101", datetime(2024, 1, 1)),
        ("2024-W01-1T12:00:00Z", NOON),
        ("2024W011T120000Z", NOON),
        ("2023-12-31T23:00:00-13:00:00.5", NOON.replace(microsecond=500_000)),
        (" 2024-01-01T12:00:00Z\n", NOON),  # a spreadsheet cell with spaces around
    ],
)
def test_every_iso_form_reads_as_the_naive_utc_time(text: str, expected: datetime) -> None:
    assert naive_utc(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2024-01",
        "2024-001",
        "2024-0101",
        "2024-01-01T",
        "2024-01-0112:00",
        "2024-01-01T12:00:00z",
        "2024-01-01T12:60",
        "2024-01-01T24:00:00",
        "2024-02-30",
        "2021-W53",
        "2024-W01-8",
        "2024-01-01T12:00:00+24:00",
        "2024-01-01T12:00:00+1:00",
        "2024-01-01T12:00:00+0130:00",
        "2024-01-01T12:00:00Z+01:00",
        "２０２４-01-01",
    ],
)
def test_text_that_is_no_iso_time_reads_as_none(text: str) -> None:
    assert naive_utc(text) is None


def _two(n: int) -> st.SearchStrategy[str]:
    return st.integers(0, n).map(lambda v: f"{v:02d}")


@st.composite
def _iso_texts(draw: Any) -> str:
    """ISO texts of every shape fromisoformat reads, some with fields out of range."""
    dash = draw(st.sampled_from(["-", ""]))
    year = f"{draw(st.integers(1, 9999)):04d}"
    if draw(st.booleans()):
        text = year + dash + draw(_two(13)) + dash + draw(_two(32))
    else:
        text = year + dash + "W" + draw(_two(54))
        if draw(st.booleans()):
            text += dash + str(draw(st.integers(0, 8)))
    if draw(st.booleans()):
        return text
    colon = draw(st.sampled_from([":", ""]))
    text += draw(st.sampled_from(["T", " ", "x"])) + draw(_two(25))
    for field in range(draw(st.integers(0, 2))):
        text += colon + draw(_two(60))
        if field == 1 and draw(st.booleans()):
            text += draw(st.sampled_from([".", ","])) + draw(st.text("0123456789", min_size=1))
    zone = draw(st.sampled_from(["", "Z", "+", "-"]))
    if zone in ("+", "-"):
        colon = draw(st.sampled_from([":", ""]))
        zone += draw(_two(24))
        for field in range(draw(st.integers(0, 2))):
            zone += colon + draw(_two(99))
            if field == 1 and draw(st.booleans()):
                zone += draw(st.sampled_from([".", ","])) + draw(st.text("0123456789", min_size=1))
    return text + zone


@pytest.mark.skipif(sys.version_info < (3, 11), reason="3.10's fromisoformat reads fewer forms")
@given(_iso_texts())
def test_iso_texts_read_as_python_311s_fromisoformat_reads_them(text: str) -> None:
    # CPython drops the fraction of an offset whose hours, minutes and seconds are all 0
    # ("+00:00:00.5" reads as UTC, "+00:00:01.5" as 1.5 s); no tool writes such offsets.
    assume(re.search(r"[+-]00:?00:?00[.,]", text) is None)
    try:
        moment: datetime | None = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is not None and moment.tzinfo is not None:
        try:
            moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
        except OverflowError:  # before the year 1 in UTC
            moment = None
    assert naive_utc(text) == moment


# -------------------------------------------------------------------- Api.runs filters

GRID = {
    "method": "grid",
    "metric": {"name": "loss"},
    "parameters": {"lr": {"values": [0.1, 0.2]}},
}


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "s.db")
    localsweep.run(GRID, lambda config: {"loss": config["lr"]}, project="p", db=path, quiet=True)
    return path


def _forms(moment: datetime) -> list[str]:
    """One UTC time written as wandb, other tools and people write it."""
    return [
        moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        moment.strftime("%Y-%m-%dT%H:%M:%S+0000"),
        moment.strftime("%Y-%m-%dT%H:%M:%S.5Z"),
        moment.strftime("%Y%m%dT%H%M%SZ"),
        (moment + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02"),
    ]


def test_created_at_filters_select_the_same_runs_whatever_iso_form_the_time_has(db: str) -> None:
    api = Api(db)
    runs = api.runs()
    before = runs[0].created_at - timedelta(hours=1)
    after = runs[-1].created_at + timedelta(hours=1)
    for text in _forms(before):
        assert len(api.runs(filters={"created_at": {"$gt": text}})) == 2, text
        assert len(api.runs(filters={"createdAt": {"$lt": text}})) == 0, text
    for text in _forms(after):
        assert len(api.runs(filters={"created_at": {"$lt": text}})) == 2, text


@pytest.mark.parametrize(
    "filters",
    [
        {"created_at": {"$gt": "yesterday"}},
        {"createdAt": "2024-13-01T00:00:00Z"},
        {"heartbeat_at": {"$in": ["2024-01-01T00:00:00Z", "2024/01/01"]}},
        {"$or": [{"updated_at": {"$not": {"$lte": "noon"}}}]},
    ],
)
def test_a_filter_time_that_is_no_iso_time_is_refused_naming_the_form(
    tmp_path: Path, db: str, filters: dict[str, Any]
) -> None:
    # As any other filter localsweep cannot evaluate: it would select nothing, even from
    # runs that match. An empty database refuses it too.
    for path in (db, str(tmp_path / "empty.db")):
        with pytest.raises(ValueError, match="is no time") as caught:
            Api(path).runs(filters=filters)
        assert "'2024-05-01T12:00:00Z' (UTC)" in str(caught.value)


def test_a_datetime_with_a_zone_selects_as_its_iso_text_does(db: str) -> None:
    # A time from Python (a run's created_at, made aware) is what a user has at hand;
    # compared with the stored naive UTC times it raised TypeError.
    api = Api(db)
    runs = api.runs()
    first = runs[0].created_at.replace(tzinfo=timezone.utc)
    east = timezone(timedelta(hours=5))
    assert len(api.runs(filters={"created_at": {"$gt": first - timedelta(hours=1)}})) == 2
    assert len(api.runs(filters={"created_at": {"$gt": first.astimezone(east)}})) == 1
    assert len(api.runs(filters={"createdAt": {"$lte": first.astimezone(east)}})) == 1
    assert [r.id for r in api.runs(filters={"created_at": first})] == [runs[0].id]


@pytest.mark.parametrize(
    ("operand", "says"),
    [
        (datetime(2024, 5, 1, 12), "has no time zone"),
        (1714564800, "is a number, not a time"),
        (1714564800.5, "is a number, not a time"),
        (date(2024, 5, 1), "is a date, not a moment"),
    ],
)
def test_a_time_filter_on_a_naive_datetime_or_a_unix_time_is_refused_with_the_fix(
    db: str, operand: Any, says: str
) -> None:
    # Either would select nothing (or the wrong runs, a naive time read in the wrong zone)
    # without a word.
    with pytest.raises(ValueError, match=says) as caught:
        Api(db).runs(filters={"created_at": {"$gte": operand}})
    assert "'2024-05-01T12:00:00Z'" in str(caught.value)


# ------------------------------------------------------------- prior runs from tables


def test_a_runs_table_created_column_reads_in_every_iso_form(tmp_path: Path) -> None:
    # The creation time tells a copy of a W&B export (taken once) from a second run of
    # the same name; lost, every copy's run would be taken again.
    forms = _forms(NOON)
    rows = "".join(f"run-{i},finished,{form},0.1,0.5\n" for i, form in enumerate(forms))
    (tmp_path / "wb.csv").write_text("Name,State,Created,lr,loss\n" + rows)
    config = parse_config({**GRID, "method": "bayes"})
    found = load_prior_runs(config, [str(tmp_path / "wb.csv")])
    half = NOON.replace(microsecond=500_000)
    assert [t.candidate.created_at for t in found.taken] == [NOON, NOON, half, NOON, NOON]
