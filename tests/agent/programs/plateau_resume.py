"""A run of the plateau-resume tests (tests/agent/test_plateau_resume*.py), as a program
or as the function ``plateau_resume:train``.

It logs ``loss`` from :data:`VALUES`, going on from ``run.step`` when resumed. Its first
attempt logs the first ``--preempt_after`` values, calls ``mark_preempting()`` and exits 1
(preempted: the run is requeued and resumed). A later attempt logs the rest, sleeping
``--pace`` seconds after each value (0: all at once, then it finishes at once)."""

import argparse
import sys
import time

import wandb

#: With ``threshold: 0.05, patience: 2``: the fifth value (0.385) is the second in a row
#: that does not improve on the best (0.4) by more than 0.05, so the run stops there.
VALUES = [1.0, 0.5, 0.4, 0.39, 0.385, 0.2, 0.1, 0.05]


def train(preempt_after: int, pace: float) -> None:
    run = wandb.init()
    if not run.resumed and preempt_after < len(VALUES):
        for value in VALUES[:preempt_after]:
            run.log({"loss": value})
        run.mark_preempting()
        run.finish(exit_code=1)
        sys.exit(1)
    for value in VALUES[run.step :]:
        run.log({"loss": value})
        time.sleep(pace)
    run.finish()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preempt_after", type=int, default=len(VALUES))
    parser.add_argument("--pace", type=float, default=0.0)
    args, _ = parser.parse_known_args()  # other parameters only tell runs apart
    train(args.preempt_after, args.pace)


if __name__ == "__main__":
    main()
