"""The database in a command localsweep suggests (after Ctrl-C, after ``localsweep
sweep``): the shell command's ``--db`` and the Python call's ``db=`` show it the same way,
never with a password (docs/cli.md, "PostgreSQL")."""

from __future__ import annotations

import pytest

from localsweep._hints import agent_command, db_in_command, go_on_hint

URL = "postgresql+psycopg://sweeper:secret@db.lab:5432/sweeps"
BARE = "postgresql+psycopg://sweeper@db.lab:5432/sweeps"


def test_a_url_localsweep_db_holds_is_left_out_of_both_the_command_and_the_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given by db= or --db, a URL without its password would hide LOCALSWEEP_DB's, which
    # has it: the agent would then fail to log in.
    monkeypatch.setenv("LOCALSWEEP_DB", URL)
    said = go_on_hint("ls-abcd1234", URL, "train:train")
    assert "secret" not in said
    assert "`localsweep agent --function train:train ls-abcd1234`" in said
    assert "(Python: localsweep.agent('ls-abcd1234', train))" in said
    assert "LOCALSWEEP_DB gives it the database" in said


def test_a_url_given_by_hand_is_shown_without_its_password_in_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LOCALSWEEP_DB", raising=False)
    said = go_on_hint("ls-abcd1234", URL)
    assert "secret" not in said
    assert f"localsweep agent --db {BARE} ls-abcd1234" in said
    assert f"localsweep.agent('ls-abcd1234', db={BARE!r})" in said
    assert "the password is left out of --db" in said


def test_a_file_or_a_url_without_a_password_is_shown_as_given() -> None:
    assert db_in_command("runs/s.db") == ("runs/s.db", "")
    assert db_in_command(BARE) == (BARE, "")
    assert db_in_command(None) == (None, "")
    assert agent_command("ls-abcd1234", "my sweeps.db") == (
        "localsweep agent --db 'my sweeps.db' ls-abcd1234",
        "",
    )
    assert "db='my sweeps.db'" in go_on_hint("ls-abcd1234", "my sweeps.db")
