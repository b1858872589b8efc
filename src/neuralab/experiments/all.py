"""all: the whole curriculum in dependency order, then the HTML portfolio (`neuralab report`).

Experiments whose data is absent are skipped with a one-line reason; an experiment that already has a finished
run with the same quick setting is not repeated unless --force; a failing experiment is recorded and the tour goes
on. Sub-runs land in the runs folder itself, so a later `run all` (or `neuralab report`) finds them.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from neuralab.config import option
from neuralab.experiments.registry import EXPERIMENTS, Context, ExperimentConfig, experiment, run_experiment
from neuralab.report.markdown import table
from neuralab.runs import Run, list_runs

WRAPPERS = ("all", "demo")


@dataclass
class AllConfig(ExperimentConfig):
    force: bool = option(False, "run experiments again even if a finished run exists")
    only: list[str] = option([], "run only these experiments")
    skip: list[str] = option([], "skip these experiments")
    report_dir: str = option("report", "where to write the HTML portfolio")


def finished_run(runs_dir: Path, name: str, quick: bool) -> Run | None:
    for run in reversed(list_runs(runs_dir)):
        cfg = run.config()
        if cfg.get("experiment") == name and cfg.get("config", {}).get("quick") == quick and \
                (run.path / "summary.json").exists():
            return run
    return None


@experiment("all", AllConfig, "every experiment and mini-project in order, then the HTML report", order=100,
            examples=["neuralab run all --quick", "neuralab run all --only mnist,cifar10 --force"])
def run_all(cfg: AllConfig, ctx: Context) -> dict:
    from neuralab.report.site import build_site

    todo = sorted((e for _, e in EXPERIMENTS.items() if e.name not in WRAPPERS and not e.manual),
                  key=lambda e: (e.order, e.name))
    if cfg.only:
        todo = [e for e in todo if e.name in cfg.only]
    rows, status = [], {}
    for exp in todo:
        t0 = time.perf_counter()
        reasons = exp.missing(ctx.settings)
        if exp.name in cfg.skip:
            reasons = ["--skip"]
        done = None if cfg.force else finished_run(ctx.settings.runs_dir, exp.name, cfg.quick)
        if reasons:
            status[exp.name] = f"skipped: {'; '.join(reasons)}"
        elif done:
            status[exp.name] = f"already finished: {done.name}"
        else:
            try:
                run, _ = run_experiment(exp.name, exp.config(seed=cfg.seed, quick=cfg.quick), ctx.settings,
                                        log=ctx.log)
                status[exp.name] = f"ran: {run.name}"
            except Exception as e:  # noqa: BLE001 - one broken experiment must not stop the tour
                status[exp.name] = f"failed: {type(e).__name__}: {e}"
                (ctx.run.path / f"{exp.name}.error.txt").write_text(traceback.format_exc())
        ctx.log(f"[all] {exp.name}: {status[exp.name]}")
        rows.append([exp.name, status[exp.name], f"{time.perf_counter() - t0:.1f}"])
    index = build_site([ctx.settings.runs_dir], Path(cfg.report_dir))
    ctx.log(f"[all] portfolio: {index}")
    ctx.run.write_report("# neuralab run all\n\n" + table(["experiment", "status", "seconds"], rows) +
                         f"\n\nPortfolio: `{index}`\n")
    failed = [k for k, v in status.items() if v.startswith("failed")]
    return {"status": status, "failed": failed, "report": str(index)}
