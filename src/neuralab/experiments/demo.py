"""demo: what `make demo` runs: every experiment marked `demo=True` (embedded or generated data only), quick mode.

New experiments join the demo by registering with `demo=True`; this file never needs editing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from neuralab.config import option
from neuralab.experiments.registry import EXPERIMENTS, Context, ExperimentConfig, experiment, run_experiment
from neuralab.report.markdown import table


@dataclass
class DemoConfig(ExperimentConfig):
    quick: bool = option(True, "quick mode for every part (default on: the demo is a short tour)")
    only: list[str] = option([], "run only these demo experiments")


@experiment("demo", DemoConfig, "the embedded-data tour run by `make demo` (every demo experiment, quick mode)",
            order=99, examples=["neuralab run demo", "neuralab run demo --only quickstart"])
def demo(cfg: DemoConfig, ctx: Context) -> dict:
    parts = sorted((e for _, e in EXPERIMENTS.items() if e.demo), key=lambda e: (e.order, e.name))
    if cfg.only:
        parts = [e for e in parts if e.name in cfg.only]
    settings = dataclasses.replace(ctx.settings, runs_dir=ctx.run.path / "runs")
    rows, done = [], {}
    for exp in parts:
        sub = exp.config(seed=cfg.seed, quick=cfg.quick)
        run, summary = run_experiment(exp.name, sub, settings, log=ctx.log)
        done[exp.name] = str(run.path)
        rows.append([exp.name, exp.description, f"[report]({run.path.relative_to(ctx.run.path)}/report.md)"])
    from neuralab.report.site import build_site

    site = build_site([settings.runs_dir], ctx.run.path / "site")
    ctx.log(f"[demo] HTML portfolio: {site}")
    ctx.run.write_report("# neuralab demo\n\n" + table(["experiment", "what", "report"], rows) +
                         f"\n\nHTML portfolio: `site/index.html`\n")
    return {"parts": done, "site": str(site)}


