"""Parameter names as the tables print them: two parameters that print alike are warned
of, and a name wandb's schema refuses says which letters it takes."""

from __future__ import annotations

import pytest

from localsweep.config import parse_config
from localsweep.errors import ConfigError


def test_a_dotted_key_beside_the_same_nested_parameter_is_warned_of() -> None:
    # wandb and the search keep `a.b` and a > b apart; show, export and the report name
    # both a.b and would mix their values.
    config = parse_config(
        {
            "method": "grid",
            "parameters": {
                "a.b": {"values": [1, 2]},
                "a": {"parameters": {"b": {"values": [3, 4]}}},
            },
        }
    )
    (warning,) = [w for w in config.warnings if "print as the same name" in w]
    assert "`a.b`" in warning and "`a > b`" in warning and "rename one" in warning
    assert {p.path for p in config.parameters} == {("a.b",), ("a", "b")}


def test_distinct_names_are_not_warned_of() -> None:
    config = parse_config(
        {
            "method": "grid",
            "parameters": {"a": {"parameters": {"b": {"values": [1]}}}, "c": {"value": 2}},
        }
    )
    assert not [w for w in config.warnings if "print as the same name" in w]


def test_a_non_ascii_letter_in_a_name_is_refused_saying_ascii() -> None:
    with pytest.raises(ConfigError, match="ASCII letter"):
        parse_config({"method": "grid", "parameters": {"é": {"values": [1]}}})
