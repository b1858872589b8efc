"""`neuralab run NAME`: one sub-command per registered experiment, its options from the experiment's config."""

from __future__ import annotations

import argparse
from typing import Any

from neuralab.commands.common import settings, sub
from neuralab.config import add_arguments, from_args


def cmd_run(ns: argparse.Namespace) -> int:
    from neuralab.experiments import EXPERIMENTS, run_experiment

    exp = EXPERIMENTS.get(ns.experiment)
    run, _ = run_experiment(exp.name, from_args(exp.config, ns), settings(ns))
    print(f"report: {run.path / 'report.md'}")
    return 0


def register(top: Any) -> None:
    from neuralab.experiments import EXPERIMENTS

    run = top.add_parser("run", help="run a named experiment or mini-project",
                         description="Run a named experiment; `neuralab run NAME --help` lists its options.")
    rsub = run.add_subparsers(dest="experiment", metavar="NAME", required=True)
    for name, exp in EXPERIMENTS.items():
        p = sub(rsub, name, exp.description, exp.examples or [f"neuralab run {name}"])
        add_arguments(p, exp.config)
        p.set_defaults(func=cmd_run)
