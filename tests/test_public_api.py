"""``localsweep``'s public API is exactly what docs/python-api.md documents, and every public
name says what it is."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import localsweep

DOCUMENTED = {
    "__version__",
    "run",
    "sweep",
    "agent",
    "sync",
    "Api",
    "Sweep",
    "Run",
    "LocalsweepError",
    "ConfigError",
    "StoreError",
    "SchemaVersionError",
    "NotFoundError",
    "DatabasePathError",
    "DatabaseURLError",
    "AgentError",
}

PUBLIC_CLASSES = ["Api", "Sweep", "Run"]


def test_all_is_exactly_the_documented_public_api() -> None:
    assert set(localsweep.__all__) == DOCUMENTED
    assert len(localsweep.__all__) == len(DOCUMENTED)


def test_every_public_name_exists() -> None:
    for name in localsweep.__all__:
        assert hasattr(localsweep, name), name


def test_nothing_else_public_is_exported() -> None:
    public = {
        name
        for name, value in vars(localsweep).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert public <= DOCUMENTED


def test_the_python_api_doc_names_every_public_name() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "python-api.md").read_text()
    for name in DOCUMENTED - {"__version__"}:
        assert re.search(rf"\b{name}\b", doc), name


@pytest.mark.parametrize("name", sorted(DOCUMENTED - {"__version__"}))
def test_every_public_name_has_a_docstring(name: str) -> None:
    assert inspect.getdoc(getattr(localsweep, name))


@pytest.mark.parametrize("cls", PUBLIC_CLASSES)
def test_every_public_member_of_the_read_classes_has_a_docstring(cls: str) -> None:
    missing = []
    for member, value in vars(getattr(localsweep, cls)).items():
        if member.startswith("_"):
            continue
        target = value.fget if isinstance(value, property) else getattr(value, "func", value)
        if not inspect.getdoc(target):
            missing.append(member)
    assert missing == []


def test_the_version_is_the_package_version() -> None:
    from importlib.metadata import version

    assert localsweep.__version__ == version("localsweep")
