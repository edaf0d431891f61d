"""Offline views of a sweep: the views of W&B's sweep page as one self-contained HTML
report, parameter importance, and exports (CSV, JSON, an Optuna storage).

>>> import localsweep
>>> from localsweep.report import write_report, parameter_importance
>>> sweep = localsweep.Api().sweep("ls-k3j9x2ab")          # doctest: +SKIP
>>> write_report(sweep, "report.html")                     # doctest: +SKIP
>>> parameter_importance(sweep)[0].name                    # doctest: +SKIP
'lr'

plotly and scikit-learn are dependencies of localsweep; where they are missing (an
environment assembled by hand) the report raises :class:`MissingExtraError`, naming them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from localsweep._lazy import lazy_names
from localsweep.report._extra import MissingExtraError

if TYPE_CHECKING:
    from localsweep.report._cli import export_command, report_command
    from localsweep.report._export import export_optuna, export_runs, run_rows
    from localsweep.report._importance import ParamImportance, parameter_importance
    from localsweep.report._page import write_report

# Imported on first use: plotly, Optuna and numpy are not needed to list the commands.
__getattr__ = lazy_names(
    __name__,
    {
        "export_command": "localsweep.report._cli",
        "report_command": "localsweep.report._cli",
        "export_optuna": "localsweep.report._export",
        "export_runs": "localsweep.report._export",
        "run_rows": "localsweep.report._export",
        "write_report": "localsweep.report._page",
        "ParamImportance": "localsweep.report._importance",
        "parameter_importance": "localsweep.report._importance",
    },
)

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
