"""Named experiments and mini-projects: `neuralab run NAME`.

Every module in this package is imported here; those that are experiments register themselves with
`@experiment(...)` (the others are their shared parts), so adding an experiment is adding one file, never editing
the CLI.
"""

import importlib
import pkgutil

from neuralab.experiments.registry import EXPERIMENTS, Context, Experiment, ExperimentConfig, experiment, run_experiment

for _m in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["EXPERIMENTS", "Context", "Experiment", "ExperimentConfig", "experiment", "run_experiment"]
