"""What a person watching an agent sees: a progress bar in a terminal or a notebook, and one
plain line per run start and end anywhere else (``nohup``, SLURM, ``2> file``), as it happens.

Fed by the agent's ``on_run_start`` / ``on_run_end`` events. "Best" is the sweep's best
among its finished runs, read from the store, so a restarted agent or one of several agents
shows the same best as ``localsweep show``.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import IO, Any, Literal

from localsweep.config import SweepConfig
from localsweep.records import RunState
from localsweep.store import RunRecord, Store

__all__ = ["ProgressMode", "SweepProgress", "best_finished", "error_summary", "params_text"]

#: The sweep's runs (other agents' too) are read again at most this often for "best"; in
#: between, this agent's own ended runs update it. Reading a 5,000-run sweep after every run
#: would cost more than the runs.
BEST_REFRESH_SECONDS = 10.0

#: ``auto``: a bar where a person watches (a terminal or a notebook), else plain lines.
ProgressMode = Literal["auto", "bar", "lines", "quiet"]


def params_text(config: Mapping[str, Any], width: int = 120) -> str:
    """A run's parameters on one line: ``lr=0.01 opt.name=adam``."""
    parts: list[str] = []

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping):
                walk(value, f"{prefix}{key}.")
            else:
                shown = f"{value:.4g}" if isinstance(value, float) else str(value)
                parts.append(f"{prefix}{key}={shown}")

    walk(config, "")
    text = " ".join(parts)
    return text if len(text) <= width else text[: width - 3] + "..."


def best_finished(config: SweepConfig, runs: list[RunRecord]) -> RunRecord | None:
    """The finished run with the best finite metric (the run W&B's sweep page ranks first)."""
    metric = config.metric
    if metric is None:
        return None
    best: RunRecord | None = None
    for run in runs:
        value = run.metric
        if run.state is not RunState.FINISHED or value is None or not math.isfinite(value):
            continue
        if best is None or metric.is_better(value, best.metric):  # type: ignore[arg-type]
            best = run
    return best


def error_summary(error: str) -> str:
    """What a run's end line says of its error. The traceback itself was printed once
    already (by wandb, by the child's streamed stderr, or by the agent's log), so: its last
    line; or localsweep's own first line (``timed out after 5 s...``) with, after a timeout,
    the child's last output before the signals."""
    lines = [line for line in error.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    if lines[0].startswith("Traceback"):
        return f": {lines[-1].strip()}"
    text = f": {lines[0].strip()}"
    marker = "--- last output before the timeout"
    start = next((i for i, line in enumerate(lines) if line.startswith(marker)), None)
    if start is not None:
        section = []
        for line in lines[start + 1 :]:
            if line.startswith("--- "):
                break
            section.append(f"  | {line}")
        if section:
            text += "\n  last output before the timeout:\n" + "\n".join(section)
    return text


class SweepProgress:
    """Shows an agent's runs as they start and end (see the module docstring).

    ``total`` is the agent's ``count`` (``None``: no bound). ``mode`` is ``auto``, ``bar``,
    ``lines`` or ``quiet``. ``prefix_ids`` puts the run id before each line of a failed
    run's error (several workers interleave).
    """

    def __init__(
        self,
        store: Store,
        sweep_id: str,
        *,
        total: int | None = None,
        mode: ProgressMode = "auto",
        stream: IO[str] | None = None,
    ):
        from rich.console import Console

        self.store = store
        self.sweep_id = sweep_id
        self.config = store.get_sweep(sweep_id).config
        self.total = self._bounded(total)
        self._stream = stream if stream is not None else sys.stderr
        self.console = Console(file=self._stream, highlight=False, soft_wrap=True)
        if mode == "auto":
            mode = "bar" if self.console.is_terminal or self.console.is_jupyter else "lines"
        self.mode = mode
        self._lock = threading.Lock()
        self._done = 0
        self._bar: Any = None
        self._task: Any = None
        self._best: RunRecord | None = None
        self._best_read_at = -math.inf

    # ----------------------------------------------------------------------- context

    def __enter__(self) -> SweepProgress:
        if self.mode == "bar":
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[best]}"),
                console=self.console,
                transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(
                f"sweep {self.sweep_id}", total=self.total, best=self._best_text()
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, tb)
            self._bar = None

    # ------------------------------------------------------------------------ events

    def on_run_start(self, run: RunRecord) -> None:
        """A run was claimed and is starting."""
        if self.mode != "lines":
            return
        with self._lock:
            self._line(
                f"run {run.id} started (run {run.number + 1} of the sweep): "
                f"{params_text(run.config)}"
            )

    def on_run_end(self, run: RunRecord) -> None:
        """A run ended and is recorded."""
        if self.mode == "quiet":
            return
        with self._lock:
            self._done += 1
            self._consider(run)
            best = self._best_text()
            metric = self.config.metric
            value = ""
            if metric is not None:
                shown = "-" if run.metric is None else f"{run.metric:.6g}"
                value = f" {metric.name}={shown}"
            error = ""
            if run.state.value in ("failed", "crashed") and run.error:
                error = error_summary(run.error)
            if self.mode == "bar":
                self._bar.update(self._task, advance=1, best=best)
                if error:
                    from rich.text import Text

                    self._bar.console.print(
                        Text(f"run {run.id} {run.state.value}{value}{error}", style="red")
                    )
                return
            done = f"{self._done}{self._of()} done"
            self._line(
                f"run {run.id} {run.state.value}{value} ({done}; {best or 'no best yet'}){error}"
            )

    def note(self, text: str) -> None:
        """A message for the person watching (a warning about the sweep, say)."""
        if self.mode == "quiet":
            return
        with self._lock:
            if self._bar is not None:
                from rich.text import Text

                self._bar.console.print(Text(text, style="yellow"))
            else:
                self._line(text)

    # ----------------------------------------------------------------------- helpers

    def _bounded(self, count: int | None) -> int | None:
        """The runs this agent can start at most: ``count``, and what the grid or the
        ``run_cap`` leaves (a 3-point grid run with count 10 shows 3, not 10)."""
        from localsweep.config import Method
        from localsweep.store import grid_size

        limits = [count] if count is not None else []
        if self.config.method is Method.GRID or self.config.run_cap is not None:
            live = [
                r for r in self.store.list_runs(self.sweep_id) if r.state is not RunState.CRASHED
            ]
            if self.config.method is Method.GRID:
                limits.append(max(grid_size(self.config) - len(live), 0))
            if self.config.run_cap is not None:
                limits.append(max(self.config.run_cap - len(live), 0))
        return min(limits) if limits else None

    def _of(self) -> str:
        return f"/{self.total}" if self.total is not None and self.mode == "lines" else ""

    def _line(self, text: str) -> None:
        self._stream.write(f"[localsweep] {text}\n")
        self._stream.flush()

    def _consider(self, run: RunRecord) -> None:
        found = best_finished(self.config, [r for r in (self._best, run) if r is not None])
        self._best = found

    def _best_text(self) -> str:
        metric = self.config.metric
        if metric is None:
            return ""
        now = time.monotonic()
        if now - self._best_read_at >= BEST_REFRESH_SECONDS:
            self._best_read_at = now
            runs = self.store.list_runs(self.sweep_id)
            self._best = best_finished(self.config, [*runs, *([self._best] if self._best else [])])
        best = self._best
        if best is None or best.metric is None:
            return ""
        if best.prior:  # named as `show` and the Api name it: its id where it was done
            return (
                f"best {metric.name}={best.metric:.6g} (prior run {best.prior_run_id or best.id})"
            )
        return f"best {metric.name}={best.metric:.6g} (run {best.id})"
