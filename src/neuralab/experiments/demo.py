"""demo: what `make demo` runs: every experiment marked `demo=True` (embedded or generated data only), quick mode.

New experiments join the demo by registering with `demo=True`; this file never needs editing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from neuralab.config import option
from neuralab.errors import ConfigError
from neuralab.experiments.registry import EXPERIMENTS, Context, ExperimentConfig, experiment, run_experiment
from neuralab.report.markdown import table
from neuralab.report.page import Page
from neuralab.report.site import build_site


@dataclass
class DemoConfig(ExperimentConfig):
    """Every part runs in quick mode unless `full`; the demo itself has nothing to shorten, so its own page carries
    no quick banner (each part's page carries its own)."""

    full: bool = option(False, "run every part in full instead of quick mode (much longer)")
    only: list[str] = option([], "run only these demo experiments")


@dataclass(frozen=True)
class DemoPart:
    name: str
    description: str
    headline: str  # the part's own page headline
    report: str  # its report.md, relative to the demo's run folder
    path: str  # its run folder


@dataclass(frozen=True)
class DemoResult:
    cfg: DemoConfig
    parts: list[DemoPart]
    site: str  # the HTML portfolio's index, relative to the demo's run folder


def render(r: DemoResult) -> Page:
    mode, n = "full runs" if r.cfg.full else "quick mode", len(r.parts)
    page = Page("neuralab demo", f"{n} embedded-data experiment{'' if n == 1 else 's'} in {mode}: "
                                 + ", ".join(p.name for p in r.parts), test={"experiments": n})
    page.add(f"Every experiment that needs no download, in {mode}"
             + ("" if r.cfg.full else " (`neuralab run demo --full` runs them in full)") + ". Each part's page has "
             "its own config, curves and conclusions.",
             table(["experiment", "what", "result", "report"],
                   [[p.name, p.description, p.headline, f"[report]({p.report})"] for p in r.parts]),
             f"HTML portfolio: `{r.site}`")
    page.details.update(parts={p.name: p.path for p in r.parts})
    return page


@experiment("demo", DemoConfig, "the embedded-data tour run by `make demo` (every demo experiment, quick mode)",
            render, order=99, examples=["neuralab run demo", "neuralab run demo --only quickstart"], tour=True)
def measure(cfg: DemoConfig, ctx: Context) -> DemoResult:
    parts = sorted((e for _, e in EXPERIMENTS.items() if e.demo), key=lambda e: (e.order, e.name))
    unknown = sorted(set(cfg.only) - {e.name for e in parts})
    if unknown:
        raise ConfigError(f"--only: no demo experiment(s) {unknown}. Demo experiments: {[e.name for e in parts]}")
    parts = [e for e in parts if e.name in cfg.only] if cfg.only else parts
    settings = dataclasses.replace(ctx.settings, runs_dir=ctx.run.path / "runs")
    done = []
    for exp in parts:
        run, page = run_experiment(exp.name, exp.config(seed=cfg.seed, quick=not cfg.full), settings, log=ctx.log)
        report = (run.path / "report.md").relative_to(ctx.run.path)
        done.append(DemoPart(exp.name, exp.description, page.headline, str(report), str(run.path)))
    site = build_site([settings.runs_dir], ctx.run.path / "site")
    ctx.log(f"[demo] HTML portfolio: {site}")
    return DemoResult(cfg, done, str(site.relative_to(ctx.run.path)))
