"""all: the whole curriculum in dependency order, then the HTML portfolio (`neuralab report`).

Experiments whose data is absent are skipped with a one-line reason; an experiment that already has a finished
run with the same quick setting is not repeated unless --force; a failing experiment is recorded (its traceback in
`<name>.error.txt`) and the tour goes on. The page lists what ran, what was skipped or failed, and each
experiment's wall time. Sub-runs land in the runs folder itself, so a later `run all` (or `neuralab report`) finds
them.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from neuralab.config import option
from neuralab.device import pick_device
from neuralab.experiments.reference_speed import WHAT, reference_speed
from neuralab.experiments.registry import EXPERIMENTS, Context, Experiment, ExperimentConfig, experiment, run_experiment
from neuralab.experiments.timing import Contention, CpuWatch, cpu_seconds
from neuralab.report.markdown import table
from neuralab.report.page import Page
from neuralab.report.site import build_site
from neuralab.runs import Run, list_runs

WRAPPERS = ("all", "demo")
Status = Literal["ran", "already finished", "skipped", "failed"]


@dataclass
class AllConfig(ExperimentConfig):
    force: bool = option(False, "run experiments again even if a finished run exists")
    only: list[str] = option([], "run only these experiments")
    skip: list[str] = option([], "skip these experiments")
    report_dir: str = option("report", "where to write the HTML portfolio")


@dataclass(frozen=True)
class Step:
    """One experiment of the tour: what happened to it and how long it took."""

    name: str
    status: Status
    detail: str  # the run's name, why it was skipped, or the error
    seconds: float  # wall time spent on it in this tour
    cpu_seconds: float  # CPU time (user + system) of this process's threads and its child processes spent on it
    headline: str = ""  # the run's own headline, when there is a run

    @property
    def line(self) -> str:
        return f"{self.status}: {self.detail}"


@dataclass(frozen=True)
class AllResult:
    cfg: AllConfig
    steps: list[Step]
    portfolio: str
    contention: Contention  # whether other programs competed for the CPUs during the tour
    speed: tuple[float, float] = (float("nan"), float("nan"))  # reference step, images/s, before and after the tour


def finished_run(runs_dir: Path, name: str, quick: bool) -> Run | None:
    """The newest finished run of experiment `name` with the same quick setting."""
    for run in reversed(list_runs(runs_dir)):
        cfg = run.config()
        if run.finished and cfg.get("experiment") == name and cfg.get("config", {}).get("quick") == quick:
            return run
    return None


def _step(exp: Experiment, cfg: AllConfig, ctx: Context) -> Step:
    """Skip, reuse, or run one experiment, timed (wall and CPU); a failure is recorded, never raised."""
    t0, c0 = time.perf_counter(), cpu_seconds()
    status, detail, headline = _outcome(exp, cfg, ctx)
    return Step(exp.name, status, detail, time.perf_counter() - t0, cpu_seconds() - c0, headline)


def _outcome(exp: Experiment, cfg: AllConfig, ctx: Context) -> tuple[Status, str, str]:
    """(status, the run's name or why not, the run's headline)."""
    reasons = ["--skip"] if exp.name in cfg.skip else exp.missing(ctx.settings)
    if reasons:
        return "skipped", "; ".join(reasons), ""
    done = None if cfg.force else finished_run(ctx.settings.runs_dir, exp.name, cfg.quick)
    if done:
        return "already finished", done.name, done.summary().headline
    try:
        run, page = run_experiment(exp.name, exp.config(seed=cfg.seed, quick=cfg.quick), ctx.settings, log=ctx.log)
        return "ran", run.name, page.headline
    except Exception as e:  # noqa: BLE001 - one broken experiment must not stop the tour
        (ctx.run.path / f"{exp.name}.error.txt").write_text(traceback.format_exc())
        return "failed", f"{type(e).__name__}: {e}", ""


def render(r: AllResult) -> Page:
    steps = r.steps
    count = {s: sum(1 for x in steps if x.status == s) for s in ("ran", "already finished", "skipped", "failed")}
    minutes = sum(x.seconds for x in steps) / 60
    cpu = sum(x.cpu_seconds for x in steps) / 60
    page = Page("neuralab run all", f"{count['ran']} experiments ran, {count['already finished']} reused, "
                                    f"{count['skipped']} skipped, {count['failed']} failed ({minutes:.1f} min)",
                test={"ran": count["ran"], "failed": count["failed"]})
    page.add(f"Quick mode: {'on' if r.cfg.quick else 'off'}. Wall time of this tour: {minutes:.1f} minutes, CPU time "
             f"{cpu:.1f} minutes (each experiment's below; 'already finished' runs were reused, not timed)."
             + ("" if r.contention.quiet else " Other programs were using the CPUs meanwhile: these wall times "
                                              "include their work."),
             table(["experiment", "status", "run / reason", "result", "wall s", "CPU s"],
                   [[x.name, x.status, x.detail.replace("|", "/").replace("\n", " "), x.headline, f"{x.seconds:.1f}",
                     f"{x.cpu_seconds:.1f}"] for x in steps]),
             _speed_note(r.speed),
             f"Portfolio: `{r.portfolio}`")
    failed = [x for x in steps if x.status == "failed"]
    if failed:
        page.findings.append(f"Failed: {', '.join(x.name for x in failed)} (tracebacks in `<name>.error.txt` in this "
                             f"run's folder).")
    page.details.update(status={x.name: x.line for x in steps}, failed=[x.name for x in failed],
                        seconds={x.name: x.seconds for x in steps},
                        cpu_seconds={x.name: x.cpu_seconds for x in steps}, report=r.portfolio,
                        timing_measured=r.contention.quiet, speed_before=r.speed[0], speed_after=r.speed[1])
    return page


def _speed_note(speed: tuple[float, float]) -> str:
    before, after = speed
    return (f"Machine speed ({WHAT}): {before:,.0f} images/s before the experiments, {after:,.0f} after. The same "
            f"code costs more CPU time on a slower day: compare tours beside their speeds.")


@experiment("all", AllConfig, "every experiment and mini-project in order, then the HTML report", render, order=100,
            examples=["neuralab run all --quick", "neuralab run all --only mnist,cifar10 --force"], tour=True)
def measure(cfg: AllConfig, ctx: Context) -> AllResult:
    todo = sorted((e for _, e in EXPERIMENTS.items() if e.name not in WRAPPERS and not e.manual),
                  key=lambda e: (e.order, e.name))
    steps, device = [], pick_device(ctx.settings.device)
    before = reference_speed(device)
    with CpuWatch() as watch:
        for exp in todo:
            if cfg.only and exp.name not in cfg.only:
                continue
            steps.append(_step(exp, cfg, ctx))
            ctx.log(f"[all] {exp.name}: {steps[-1].line} ({steps[-1].seconds:.0f} s)")
    missing = {x.name: x.line for x in steps if x.status in ("skipped", "failed")}  # this tour is not finished yet
    index = build_site([ctx.settings.runs_dir], Path(cfg.report_dir), missing)
    ctx.log(f"[all] portfolio: {index}")
    return AllResult(cfg, steps, str(index), watch.contention, (before, reference_speed(device)))
