"""Helpers for the config tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from localsweep.config import SweepConfig, parse_config
from localsweep.errors import ConfigError, Violation


def violations_of(raw: Mapping[str, Any]) -> list[Violation]:
    """The violations ``parse_config`` reports for ``raw`` (failing if it accepts it)."""
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    return list(info.value.violations)


@pytest.fixture
def violations() -> Callable[[Mapping[str, Any]], list[Violation]]:
    return violations_of


@pytest.fixture
def one_param() -> Callable[..., SweepConfig]:
    """Parse a config with one parameter ``x`` given by its spec."""

    def parse(spec: Any, method: str = "random", **top: Any) -> SweepConfig:
        return parse_config({"method": method, "parameters": {"x": spec}, **top})

    return parse
