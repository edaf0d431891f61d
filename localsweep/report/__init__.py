"""Offline views of a sweep: the views of W&B's sweep page as one self-contained HTML
report, parameter importance, and exports (CSV, JSON, an Optuna storage).

>>> import localsweep
>>> from localsweep.report import write_report, parameter_importance
>>> sweep = localsweep.Api().sweep("ls-k3j9x2ab")          # doctest: +SKIP
>>> write_report(sweep, "report.html")                     # doctest: +SKIP
>>> parameter_importance(sweep)[0].name                    # doctest: +SKIP
'lr'

plotly and scikit-learn come with the ``localsweep[report]`` extra; without them the
report raises :class:`MissingExtraError`, which names the extra.
"""

from __future__ import annotations

from localsweep.report._cli import export_command, report_command
from localsweep.report._export import export_optuna, export_runs, run_rows
from localsweep.report._extra import MissingExtraError
from localsweep.report._importance import ParamImportance, parameter_importance
from localsweep.report._page import write_report

__all__ = [
    "MissingExtraError",
    "ParamImportance",
    "export_command",
    "export_optuna",
    "export_runs",
    "parameter_importance",
    "report_command",
    "run_rows",
    "write_report",
]
