"""``Run.summary`` of :mod:`localsweep.api`: a ``dict`` read as wandb.Api's summary is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

__all__ = ["RunSummary", "SummaryKeyError"]


class SummaryKeyError(KeyError, AttributeError):
    """A key read as an attribute (``run.summary.loss``) that the summary does not have:
    a ``KeyError`` as wandb.Api's summary raises, and an ``AttributeError`` so that
    ``hasattr`` and ``getattr(summary, "loss", None)`` work as for any attribute."""


class RunSummary(dict[str, Any]):
    """A run's summary: a plain ``dict`` (its values are JSON's: numbers, text, lists and
    nested dicts, each nested dict a ``RunSummary`` too), with wandb.Api's ways to read it:
    a key as an attribute (``summary.loss``, ``summary.val.loss``, as wandb's
    ``SummarySubDict``) and ``_json_dict`` for the scripts that read it so (W&B's own
    "export runs" snippet: ``summary_list.append(run.summary._json_dict)``). Edits stay in
    this copy: the database keeps the summary the run left."""

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        super().__init__(
            {k: RunSummary(v) if isinstance(v, dict) else v for k, v in (values or {}).items()}
        )

    def __getattr__(self, name: str) -> Any:
        # Only called for what is no attribute of a dict (keys, items, get... stay methods);
        # wandb's reads a name with a leading underscore as an attribute, never a key.
        if name.startswith("_"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        try:
            return self[name]
        except KeyError:
            raise SummaryKeyError(name) from None

    def __setitem__(self, key: str, value: Any) -> None:
        # A dict put in is read by attribute too, as the summary's own nested dicts are.
        wrap = isinstance(value, dict) and not isinstance(value, RunSummary)
        super().__setitem__(key, RunSummary(value) if wrap else value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def __ior__(self, other: Any) -> RunSummary:  # type: ignore[override]
        # ``summary |= {"val": {...}}`` is update(): dict's own put plain dicts in.
        self.update(other)
        return self

    def __or__(self, other: Any) -> Any:
        if not isinstance(other, dict):
            return NotImplemented  # as dict's |
        merged = self.copy()
        merged.update(other)
        return merged

    def __ror__(self, other: Any) -> Any:
        if not isinstance(other, dict):
            return NotImplemented
        merged = RunSummary()
        merged.update(other)
        merged.update(self)
        return merged

    def copy(self) -> RunSummary:
        """A shallow copy, as ``dict.copy`` and ``copy.copy(summary)`` make, that still
        reads a key as an attribute (``dict.copy`` made a plain ``dict``). wandb's summary
        has no ``copy``: there ``run.summary.copy`` is read as the key ``"copy"``."""
        copied = RunSummary()
        dict.update(copied, self)  # the values as they are: nested summaries shared
        return copied

    def __setattr__(self, name: str, value: Any) -> None:
        # ``summary.best = 0.1`` sets the key, as in wandb (there it writes to the server).
        if name.startswith("_"):
            super().__setattr__(name, value)
        else:
            self[name] = value

    def __delattr__(self, name: str) -> None:
        if name.startswith("_"):
            super().__delattr__(name)
            return
        try:
            del self[name]
        except KeyError:
            raise SummaryKeyError(name) from None

    @property
    def _json_dict(self) -> dict[str, Any]:
        """The summary as a plain ``dict`` (a copy, nested dicts plain too), as wandb's
        ``HTTPSummary._json_dict``."""
        return _plain(self)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# yaml.safe_dump(dict(run.summary)) wrote a nested summary's plain dicts: it still does.
for _name in ("SafeDumper", "Dumper", "CSafeDumper", "CDumper"):
    _dumper = getattr(yaml, _name, None)  # the C ones only with libyaml
    if _dumper is not None:
        _dumper.add_representer(RunSummary, yaml.representer.SafeRepresenter.represent_dict)
