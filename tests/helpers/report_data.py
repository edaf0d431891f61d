"""What the tests read from a written report: the JSON blob its page is drawn from."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_BLOB = re.compile(r'<script type="application/json" id="sweep-data">(.*?)</script>', re.S)


def report_data(report: Path | str) -> dict[str, Any]:
    """The sweep data of a report: its file, or its HTML as text."""
    html = report.read_text(encoding="utf-8") if isinstance(report, Path) else report
    found = _BLOB.search(html)
    assert found is not None, "no sweep data in the report"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def row_cells(table: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The runs table's row of ``run_id``, by column."""
    (row,) = [r for r in table["rows"] if r[table["id_column"]] == run_id]
    return dict(zip(table["columns"], row, strict=True))
