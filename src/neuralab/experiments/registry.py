"""The experiment registry and the runner: measure -> result -> render -> page.

An experiment is two functions and a config. `measure(cfg, ctx) -> Result` trains and collects numbers (a dataclass
of its own, child runs under `ctx.run`); `render(result) -> Page` turns them into plots, prose and a headline
without touching the disk. The runner applies quick mode (the config's `QUICK` overrides, in one place), creates
`runs/<time>-NAME/` with the effective config, measures, renders, and writes the page: report.md (with the config
that ran, and a banner for quick runs), plots/*.png and summary.json.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable

from neuralab.config import Config, Settings, apply_quick, option, to_dict
from neuralab.data.registry import unavailable
from neuralab.heap import retained_heap
from neuralab.registry import Registry
from neuralab.report.page import Page, write_page
from neuralab.runs import Run


@dataclass
class ExperimentConfig(Config):
    """Fields every experiment has; experiments subclass this with their own options (and sections)."""

    seed: int = option(0, "random seed (experiments with several seeds start here)", min=0)
    quick: bool = option(False, "shrink the experiment (fewer epochs, seeds or variants) for a fast tour")


@dataclass
class Context:
    settings: Settings
    run: Run
    log: Callable[[str], None] = print


@dataclass
class Experiment:
    name: str
    description: str
    config: type
    measure: Callable[[Any, Context], Any]
    render: Callable[[Any], Page]
    needs: tuple[str, ...] = ()  # datasets it reads ("a|b": either), for `run all` to skip with a reason if absent
    order: int = 50  # position in `run all` (dependencies first)
    demo: bool = False  # part of `make demo`: runs on embedded/generated data only
    manual: bool = False  # needs arguments only a user can give (a run, a folder): not in `run all`
    examples: list[str] = field(default_factory=list)
    ready: Callable[[Settings], str] | None = None  # other things it needs (weights): why not, or ''
    check: Callable[[Any, Settings], None] | None = None  # raises before the run folder exists (bad data, weights)
    tour: bool = False  # runs other experiments (all, demo): each of them keeps its own memory, the tour keeps none

    def missing(self, settings: Settings) -> list[str]:
        """Why this experiment cannot run here without downloading (empty when it can); checks files only."""
        reasons = []
        for need in self.needs:
            why = [unavailable(name, settings) for name in need.split("|")]
            if all(why):
                reasons.append(" and ".join(why))
        extra = self.ready(settings) if self.ready else ""
        return reasons + ([extra] if extra else [])


EXPERIMENTS: Registry[Experiment] = Registry("experiment")


def experiment(name: str, config: type, description: str, render: Callable[[Any], Page],
               needs: tuple[str, ...] = (), order: int = 50, demo: bool = False, examples: list[str] | None = None,
               manual: bool = False, ready: Callable[[Settings], str] | None = None,
               check: Callable[[Any, Settings], None] | None = None, tour: bool = False) -> Callable:
    """Decorator on an experiment's `measure` function: `@experiment("cifar10", Cifar10Config, "...", render)`."""
    def add(measure: Callable[[Any, Context], Any]) -> Callable[[Any, Context], Any]:
        EXPERIMENTS.register(name)(Experiment(name, description, config, measure, render, needs, order, demo, manual,
                                              examples or [], ready, check, tour))
        return measure

    return add


def effective(cfg: Any) -> Any:
    """The config that runs: quick mode's overrides applied (to the fields the user left at their defaults), then
    the config's own `settled()` where it has one (defaults that depend on other fields, e.g. a per-model recipe)."""
    cfg = apply_quick(cfg) if getattr(cfg, "quick", False) else cfg
    settle = getattr(cfg, "settled", None)
    return settle() if callable(settle) else cfg


def run_experiment(name: str, cfg: Any = None, settings: Settings | None = None,
                   log: Callable[[str], None] = print) -> tuple[Run, Page]:
    exp = EXPERIMENTS.get(name)
    cfg = effective(cfg if cfg is not None else exp.config())
    settings = settings or Settings.resolve()
    if exp.check:  # what can be known to fail fails here, before a run folder exists
        exp.check(cfg, settings)
    config = to_dict(cfg)
    run = Run.create(settings.runs_dir, name, {"experiment": name, "description": exp.description, "config": config,
                                               "settings": to_dict(settings)})
    log(f"[{name}] run directory: {run.path}")
    # The whole measurement keeps its freed memory (neuralab.heap): evaluation, feature extraction and TTA passes
    # allocate blocks as large as training's (fastnet's test pass: 5.0 instead of 8.1 s for 16,000 images).
    # A tour's parts each trim what they kept when they end, so the tour's peak is its largest part's.
    with contextlib.nullcontext() if exp.tour else retained_heap():
        result = exp.measure(cfg, Context(settings, run, log))
    page = exp.render(result)
    write_page(run, page, config, quick_of=name if getattr(cfg, "quick", False) else "")
    log(f"[{name}] report: {run.path / 'report.md'}")
    return run, page
