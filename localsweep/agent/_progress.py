"""What a person watching an agent sees: a progress bar in a terminal or a notebook, and one
plain line per run start and end anywhere else (``nohup``, SLURM, ``2> file``, a notebook
without ipywidgets), as it happens. In a notebook the bar leaves sys.stdout and sys.stderr
alone and is redrawn only as a run ends (see :meth:`SweepProgress.__enter__`).

Fed by the agent's ``on_run_start`` / ``on_run_end`` events. The run that ended counts at
once; the sweep's runs that changed since the last read are read from the store at a run
end at most once a second (the new ones and the ones that were still running or preempted:
a run that ended stays as it ended), so the counts and "best" are the sweep's, as
``localsweep show`` has them, for a restarted agent or one of several (another agent's run
shows within a second, or at the first run end after it), at the cost of a few rows a
second.

"k/N done": for a sweep with an end (a grid, a ``run_cap``), N is what the sweep runs in
all (``run_cap``; the grid's points not held by a prior run) and k its runs done:
the runs that count for ``run_cap`` as the store counts them (not crashed or killed, which
give their point back) and have ended (not running or preempted, which run again); prior
runs are not the sweep's own. For a sweep without an end, k is this agent's runs done and
N its ``count``.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import sys
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import IO, Any, Literal

from localsweep._console import note_output_fault
from localsweep.config import Method, SweepConfig
from localsweep.errors import StoreError
from localsweep.records import RESULT_STATES, RunState
from localsweep.search._multi import dominates, objective_values, summary_value
from localsweep.store import RunRecord, Store, grid_size

__all__ = [
    "ProgressMode",
    "SweepProgress",
    "SweepTally",
    "best_finished",
    "error_summary",
    "is_done",
    "params_text",
]

logger = logging.getLogger(__name__)

_OPEN = frozenset({RunState.RUNNING, RunState.PREEMPTED})
_FIRST = -(2**31)
#: How often (seconds) the progress reads the other agents' runs from the store.
READ_INTERVAL = 1.0

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
    """The run with the best finite metric among those with a result, finished or stopped
    early (the run W&B's sweep page ranks first; ``Sweep.best_run``'s rule)."""
    metric = config.metric
    if metric is None:
        return None
    best: RunRecord | None = None
    for run in runs:
        value = run.metric
        if run.state not in RESULT_STATES or value is None or not math.isfinite(value):
            continue
        if best is None or metric.is_better(value, best.metric):  # type: ignore[arg-type]
            best = run
    return best


def is_done(run: RunRecord) -> bool:
    """Whether ``run`` counts in "k/N done": one of the sweep's own runs that counts for
    ``run_cap`` as the store counts it (not crashed or killed, which give their point back)
    and will not run again (not running or preempted). Finished, failed, early terminated."""
    return not run.prior and run.state.is_finished and not run.state.gives_point_back


class SweepTally:
    """A sweep's runs done, the grid points its prior runs hold and its best
    finished run, kept up to date by :meth:`read`, which reads only what can have changed.

    A run that ended stays as it ended (its end is fenced by its lease) and runs are
    numbered in the order they are claimed, so each read asks for the runs numbered above
    the highest seen and the ones that were running or preempted at the last read.
    """

    def __init__(self, config: SweepConfig):
        self.config = config
        self.best: RunRecord | None = None
        #: A multi-objective sweep's Pareto set so far (``Sweep.pareto_runs``'s runs: its
        #: runs with a result and every objective, prior runs included), with their
        #: objective values. A prior run ended before the sweep began: the first read
        #: takes it, and no later read reads it again.
        self.front: list[tuple[RunRecord, tuple[float, ...]]] = []
        self._results: set[str] = set()
        self._prior_points: set[str] = set()
        self._open: set[str] = set()
        self._watermark = _FIRST

    @property
    def results(self) -> int:
        """How many of the sweep's own runs are done (see :func:`is_done`)."""
        return len(self._results)

    @property
    def prior_points(self) -> int:
        """How many grid points the sweep's prior runs hold."""
        return len(self._prior_points)

    def read(self, store: Store, sweep_id: str) -> None:
        """Catch up with the store."""
        for run in store.runs_since(sweep_id, self._watermark, sorted(self._open)):
            self._watermark = max(self._watermark, run.number + 1)
            self.take(run)

    def take(self, run: RunRecord) -> None:
        """Count ``run`` as it is now (a run ended by this agent, before the store is read
        again: reading it there later changes nothing)."""
        if run.prior:
            if run.grid_key is not None:  # of several priors at a point, one holds it
                self._prior_points.add(run.id)
        elif run.state in _OPEN:
            self._open.add(run.id)
            return
        self._open.discard(run.id)
        if is_done(run):
            self._results.add(run.id)
        if self.config.is_multi_objective:
            self._to_front(run)
        self.best = best_finished(self.config, [r for r in (self.best, run) if r is not None])

    def _to_front(self, run: RunRecord) -> None:
        """Put ``run`` on the Pareto front if no run there beats it, dropping the ones it
        beats (equal points all stay, as ``non_dominated`` keeps them). Prior runs count,
        as ``Sweep.pareto_runs`` counts them: a trade-off found before is still on the
        front."""
        if run.state.value not in RESULT_STATES:
            return
        metrics = self.config.metrics
        values = objective_values(run.summary, metrics)
        if values is None or any(r.id == run.id for r, _ in self.front):
            return
        goals = [m.goal for m in metrics]
        if any(dominates(other, values, goals) for _, other in self.front):
            return
        self.front = [(r, v) for r, v in self.front if not dominates(values, v, goals)]
        self.front.append((run, values))

    def total(self) -> int | None:
        """What the sweep runs in all: see :func:`sweep_total`."""
        return sweep_total(self.config, self.prior_points)


def sweep_total(config: SweepConfig, prior_points: int) -> int | None:
    """What a sweep runs in all (``None``: no end but the user's): the least of its
    ``run_cap`` and its grid's points not held by a prior run (``prior_points`` of them
    are)."""
    limits = []
    if config.method is Method.GRID:
        limits.append(max(grid_size(config) - prior_points, 0))
    if config.run_cap is not None:
        limits.append(config.run_cap)
    return min(limits) if limits else None


#: How program mode's error introduces the child's last stderr lines (``with_tail``).
_STDERR_TAIL = "--- last lines of stderr"


def _wandb_chatter(line: str) -> bool:
    """Whether a stderr line is wandb's own news (``wandb: View this run ...``, the start
    banner), which says nothing of why a program failed: a program killed by a signal has
    no last words of its own, and the banner would read as its error."""
    text = line.strip()
    if not text.startswith("wandb:"):
        return False
    return not any(word in text for word in ("ERROR", "Error", "WARNING", "error"))


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
    tail = next((i for i, line in enumerate(lines) if line.startswith(_STDERR_TAIL)), None)
    if tail is not None:
        # A program that failed: its stderr's last line says why (ValueError: ...).
        said = []
        for line in lines[tail + 1 :]:
            if line.startswith("--- "):
                break
            if not _wandb_chatter(line):
                said.append(line)
        if said:
            text += f": {said[-1].strip()}"
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


def _has_output_widget() -> bool:
    """Whether ipywidgets' Output, in which rich shows a live display in Jupyter, can be
    imported (rich's own test: without it rich warns "install ipywidgets" and shows
    nothing)."""
    try:
        importlib.import_module("ipywidgets").Output  # noqa: B018
    except (ImportError, AttributeError):
        return False
    return True


class SweepProgress:
    """Shows an agent's runs as they start and end (see the module docstring).

    ``total`` is the agent's ``count`` (``None``: no bound); it is N only for a sweep
    without a grid or ``run_cap``. ``mode`` is ``auto``, ``bar``, ``lines`` or ``quiet``.
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
        self._stream = stream if stream is not None else sys.stderr
        self.console = Console(file=self._stream, highlight=False, soft_wrap=True)
        #: In Jupyter rich shows its bar in an ipywidgets Output widget; without
        #: ipywidgets (a kernel as VS Code sets one up) it shows only a warning, so the
        #: runs show as plain lines there, as under ``nohup``.
        self._jupyter = self.console.is_jupyter
        if mode == "auto":
            # A dumb terminal (TERM=dumb: Emacs' shell, some CI ptys) cannot redraw: rich's
            # bar would show only at the end there, so it gets the plain lines.
            drawn = self.console.is_terminal and not self.console.is_dumb_terminal
            mode = "bar" if drawn or self._jupyter else "lines"
        if mode == "bar" and self._jupyter and not _has_output_widget():
            mode = "lines"
        self.mode = mode
        self._lock = threading.Lock()
        self._tally = SweepTally(self.config)
        #: The sweep's own end, if it has one: then k and N are the sweep's.
        self._sweep_wide = self.config.method is Method.GRID or self.config.run_cap is not None
        self._count = total
        #: This agent's runs done (k for a sweep without an end).
        self._own_results = 0
        self._bar: Any = None
        self._task: Any = None
        self._streams: Any = None
        self._read_at = -math.inf
        #: The stream failed: no more lines are written to it.
        self._gone = False
        if mode != "quiet":
            self._read()

    @property
    def total(self) -> int | None:
        """N of "k/N done": what the sweep runs in all, or for a sweep without an end, the
        agent's ``count`` (``None``: neither)."""
        return self._tally.total() if self._sweep_wide else self._count

    @property
    def done(self) -> int:
        """k of "k/N done": the sweep's runs done, or for a sweep without an end,
        this agent's."""
        return self._tally.results if self._sweep_wide else self._own_results

    # ----------------------------------------------------------------------- context

    def __enter__(self) -> SweepProgress:
        if self.mode == "bar":
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

            from localsweep.agent._live_streams import LiveProgress, LiveStreams
            from localsweep.wandb_bridge._console_capture import PastCapture

            self._bar = LiveProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[best]}"),
                console=self.console,
                transient=False,
                # rich's redirect of sys.stdout/stderr prints each flushed part of a line
                # as a line (a tqdm bar became a line per frame): LiveStreams stands in
                # for them instead, in a terminal. In Jupyter the streams are left alone:
                # a redirect there recurses (ipykernel's display flushes sys.stdout) and
                # the cell shows partial lines and tqdm itself. And rich's refresh thread
                # would draw the bar inside an Output widget, which takes in whatever the
                # cell prints meanwhile, wiped at the next refresh: there the bar is drawn
                # only as a run ends (on_run_end), when the run's own output is done.
                redirect_stdout=False,
                redirect_stderr=False,
                auto_refresh=not self._jupyter,
            )
            self._bar.__enter__()
            try:
                self._task = self._bar.add_task(
                    f"sweep {self.sweep_id}",
                    total=self.total,
                    completed=self.done,
                    best=self._best_text(),
                )
                if not self._jupyter:
                    # The bar's frames are not the run's output: not for wandb's output.log.
                    self.console.file = PastCapture(self._stream)  # type: ignore[assignment]
                    self._streams = LiveStreams(self.console, self._bar.refresh)
                    self._bar.streams = self._streams
                    self._streams.install()
            except BaseException:
                self.__exit__(*sys.exc_info())
                raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            # rich draws no last frame in Jupyter as it stops: without this the bar
            # would show its last refresh, before the last run's end.
            try:
                self._bar.refresh()
            finally:
                if self._streams is not None:
                    # Also on Ctrl-C or an error: the streams are the user's again, and
                    # the line left partial is printed above the bar's last frame.
                    self._streams.remove()
                    self._streams = None
            if self._jupyter:
                # Its stop would show an empty display there (a blank box under the bar);
                # nothing else prints through this console.
                self.console.quiet = True
            self._bar.__exit__(exc_type, exc, tb)
            self._bar = None

    # ------------------------------------------------------------------------ events

    def on_run_start(self, run: RunRecord) -> None:
        """A run was claimed and is starting."""
        if self.mode != "lines":
            return
        with self._lock:
            # ``#number`` as the report, show and export number runs (from 0, as the
            # name ``run-N``): "run 10" for run-9 read as another run.
            what = (
                f"resumed (attempt {run.attempt}; #{run.number} of the sweep)"
                if run.attempt > 1
                else f"started (#{run.number} of the sweep)"
            )
            self._line(f"run {run.id} {what}: {params_text(run.config)}")

    def on_run_end(self, run: RunRecord) -> None:
        """A run ended and is recorded."""
        if self.mode == "quiet":
            return
        with self._lock:
            if is_done(run):
                self._own_results += 1
            # Other agents' runs are read at most once a second (a read costs as much as
            # a short run's own bookkeeping); this agent's run counts at once.
            self._tally.take(run)
            if time.monotonic() - self._read_at >= READ_INTERVAL:
                self._read()
            best = self._best_text()
            value = self._value_text(run)
            error = ""
            if run.state.value in ("failed", "crashed") and run.error:
                error = error_summary(run.error)
            if self.mode == "bar":
                self._bar.update(
                    self._task,
                    completed=self.done,
                    total=self.total,
                    best=best,
                    refresh=self._jupyter,
                )
                if error:
                    from rich.text import Text

                    self._bar.console.print(
                        Text(f"run {run.id} {run.state.value}{value}{error}", style="red")
                    )
                return
            total = self.total
            done = f"{self.done}{'' if total is None else f'/{total}'} done"
            if not best:
                multi = self.config.is_multi_objective
                best = "Pareto front: no run yet" if multi else "no best yet"
            self._line(f"run {run.id} {run.state.value}{value} ({done}; {best}){error}")

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

    def _read(self) -> None:
        """Catch up with the sweep's runs; a store that cannot be read now leaves the last
        counts and best shown (the next run end reads again)."""
        self._read_at = time.monotonic()
        try:
            self._tally.read(self.store, self.sweep_id)
        except StoreError as error:
            logger.warning("progress of sweep %s not read: %s", self.sweep_id, error)

    def _line(self, text: str) -> None:
        if self._gone:
            return
        try:
            self._stream.write(f"[localsweep] {text}\n")
            self._stream.flush()
        except OSError as exc:
            # The reader went away (`2>&1 | head -1`) or the device is full: a line that
            # cannot be shown must not end the agent between its claim and its run (the
            # run stayed `running`). The agent stops at its next look at its streams,
            # after recording the run (see localsweep._console.output_fault).
            self._gone = True
            with contextlib.suppress(OSError, ValueError, AttributeError):
                note_output_fault(self._stream.fileno(), exc)

    def _value_text(self, run: RunRecord) -> str:
        """`` loss=0.1``: the run's value of the metric, or of each objective."""
        if self.config.is_multi_objective:
            shown = []
            for m in self.config.metrics:
                found = summary_value(run.summary, m.name, m.goal)
                shown.append(f"{m.name}={'-' if found is None else f'{found:.6g}'}")
            return " " + " ".join(shown)
        metric = self.config.metric
        if metric is None:
            return ""
        return f" {metric.name}={'-' if run.metric is None else f'{run.metric:.6g}'}"

    def _best_text(self) -> str:
        if self.config.is_multi_objective:  # no best run: the Pareto set's size
            size = len(self._tally.front)
            return f"Pareto front: {size} run{'' if size == 1 else 's'}" if size else ""
        metric = self.config.metric
        best = self._tally.best
        if metric is None or best is None or best.metric is None:
            return ""
        if best.prior:  # named as `show` and the Api name it: its id where it was done
            return (
                f"best {metric.name}={best.metric:.6g} (prior run {best.prior_run_id or best.id})"
            )
        return f"best {metric.name}={best.metric:.6g} (run {best.id})"
