"""The experiment registry and the runner that gives every experiment a run directory.

An experiment is a function `fn(cfg, ctx) -> summary dict` plus its config dataclass (whose fields become the
`neuralab run NAME --...` options). The runner creates `runs/<time>-NAME/`, saves the config, calls the function,
and saves the returned summary; the function writes its plots and report.md through `ctx.run`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from neuralab.config import Settings, option, to_dict
from neuralab.registry import Registry
from neuralab.runs import Run


@dataclass
class ExperimentConfig:
    """Fields every experiment has; experiments subclass this with their own options."""

    seed: int = option(0, "random seed (experiments with several seeds start here)")
    quick: bool = option(False, "shrink the experiment (fewer epochs, smaller data) for a fast tour")


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
    fn: Callable[[Any, Context], dict[str, Any]]
    needs: tuple[str, ...] = ()  # datasets it reads ("a|b": either), for `run all` to skip with a reason if absent
    order: int = 50  # position in `run all` (dependencies first)
    demo: bool = False  # part of `make demo`: runs on embedded/generated data only
    manual: bool = False  # needs arguments only a user can give (a run, a folder): not in `run all`
    examples: list[str] = field(default_factory=list)
    ready: Callable[[Settings], str] | None = None  # other things it needs (weights): why not, or ''

    def missing(self, settings: Settings) -> list[str]:
        """Why this experiment cannot run here without downloading (empty when it can); checks files only."""
        from neuralab.data.registry import unavailable

        reasons = []
        for need in self.needs:
            why = [unavailable(name, settings) for name in need.split("|")]
            if all(why):
                reasons.append(" and ".join(why))
        extra = self.ready(settings) if self.ready else ""
        return reasons + ([extra] if extra else [])


EXPERIMENTS: Registry[Experiment] = Registry("experiment")


def experiment(name: str, config: type, description: str, needs: tuple[str, ...] = (), order: int = 50,
               demo: bool = False, examples: list[str] | None = None, manual: bool = False,
               ready: Callable[[Settings], str] | None = None) -> Callable:
    def add(fn: Callable[[Any, Context], dict[str, Any]]) -> Callable[[Any, Context], dict[str, Any]]:
        EXPERIMENTS.register(name)(Experiment(name, description, config, fn, needs, order, demo, manual,
                                              examples or [], ready))
        return fn

    return add


def run_experiment(name: str, cfg: Any = None, settings: Settings | None = None,
                   log: Callable[[str], None] = print) -> tuple[Run, dict[str, Any]]:
    exp = EXPERIMENTS.get(name)
    cfg = cfg if cfg is not None else exp.config()
    settings = settings or Settings.resolve()
    run = Run.create(settings.runs_dir, name,
                     {"experiment": name, "config": to_dict(cfg), "settings": to_dict(settings)})
    log(f"[{name}] run directory: {run.path}")
    summary = exp.fn(cfg, Context(settings, run, log))
    run.write_summary(summary)
    if not (run.path / "report.md").exists():
        run.write_report(f"# {name}\n\n{exp.description}\n")
    log(f"[{name}] report: {run.path / 'report.md'}")
    return run, summary
