"""How an agent says it stopped: Ctrl-C (:class:`AgentInterrupted`, runs recorded killed)
and SIGTERM or SIGHUP (runs requeued as preempted)."""

from __future__ import annotations

__all__ = ["AgentInterrupted", "interrupted_message", "terminated_message"]


class AgentInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the agent; ``interrupted`` runs were recorded killed (no result; a
    grid runs their points again). ``go_on`` says how to go on with the sweep
    (:func:`localsweep._hints.go_on_hint`, with the database and the function the agent
    was given); without it, the sweep's id alone is named."""

    def __init__(
        self,
        interrupted: int,
        grid: bool = True,
        sweep_id: str | None = None,
        *,
        go_on: str | None = None,
    ):
        text = interrupted_message(interrupted, grid)
        if go_on is None and sweep_id is not None:
            from localsweep._hints import go_on_hint

            go_on = go_on_hint(sweep_id)
        if go_on:
            # A notebook's localsweep.run() returned no Sweep: say how to go on with it.
            text += f" {go_on}"
        super().__init__(text)
        self.interrupted = interrupted
        self.grid = grid
        #: The sweep the agent ran, to continue it with ``localsweep.agent(sweep_id, ...)``.
        self.sweep_id = sweep_id


def interrupted_message(n: int, grid: bool = True) -> str:
    """What the agent says when Ctrl-C stopped ``n`` runs: a grid runs their points again;
    a search draws new ones, and the interrupted runs just do not count."""
    if n == 0:
        return "Interrupted; no run was in progress."
    runs = "1 run" if n == 1 else f"{n} runs"
    if not grid:
        return f"{runs} interrupted: no result, not counted."
    points = "its point" if n == 1 else "their points"
    return f"{runs} interrupted; {points} will run again."


def terminated_message(n: int, signal_name: str = "SIGTERM") -> str:
    """What the agent says when ``signal_name`` (SIGTERM, SIGHUP) stopped it with ``n`` runs
    requeued."""
    why = " (the terminal closed)" if signal_name == "SIGHUP" else ""
    if n == 0:
        # Its runs had ended (a finished run's end may have waited for the database).
        return f"Stopped on {signal_name}{why}; no run was left to requeue."
    runs = "1 run was" if n == 1 else f"{n} runs were"
    return (
        f"Stopped on {signal_name}{why}: {runs} requeued as preempted; any agent of this "
        "sweep resumes them with the same run id."
    )
