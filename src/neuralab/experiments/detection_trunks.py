"""What a pretrained trunk buys a detector (`neuralab run detection --compare-trunks`, full mode only: it trains
2 x seeds more detectors).

SSDLite on MobileNetV2 trains on the same generated images twice per seed: once with the ImageNet trunk (as
`--weights-backbone imagenet` finds it: torchvision's file or a known checkpoint in the weights folder, with its own
preprocessing) and once from random weights. No time budget ends either run, so both see exactly the same number of
images; the page plots validation mAP@0.5 against images seen (and against training seconds when the machine was
quiet), and says which trunk wins on test mAP@0.5 only through report.claims (Welch over seeds), else "no measurable
difference". Without ImageNet weights on this machine nothing trains and the page says what to place where.
"""

from __future__ import annotations

from dataclasses import dataclass

from neuralab.experiments.registry import Context
from neuralab.experiments.timing import CpuWatch
from neuralab.models.weights import KNOWN_CHECKPOINTS, find_imagenet
from neuralab.report.claims import Sample, compare, mean_pm
from neuralab.report.markdown import table
from neuralab.report.page import Page
from neuralab.report.plots import plot_compare
from neuralab.runs import Run
from neuralab.train.detection import DetectTrainConfig, train_detector

MODEL = "ssdlite320_mobilenet_v2"
TRUNKS = {"ImageNet trunk": "imagenet", "random trunk": "none"}


@dataclass(frozen=True)
class TrunkRun:
    """One detector's training: its curve per epoch and its test mAP@0.5."""

    name: str  # a key of TRUNKS
    seed: int
    images_seen: list[int]  # cumulative, after each epoch
    seconds: list[float]  # cumulative training seconds, after each epoch
    val_map50: list[float]
    test_map50: float
    trunk: str  # where the trunk's weights came from


@dataclass(frozen=True)
class TrunkComparison:
    runs: list[TrunkRun]
    missing: str = ""  # why nothing trained ('' when it did)
    timing_measured: bool = False  # no other program competed for the CPUs: the seconds are the runs' own


def _curve(run: Run) -> tuple[list[int], list[float], list[float]]:
    """(images seen, training seconds, val mAP@0.5), cumulative per epoch, from the run's metrics.jsonl."""
    seen, secs, total_seen, total_s = [], [], 0, 0.0
    for row in run.metrics("train"):  # each epoch's images, as training counted them
        total_seen += int(row.metric("images"))
        total_s += row.seconds or 0.0
        seen.append(total_seen), secs.append(total_s)
    return seen, secs, [row.metric("map50") for row in run.metrics("val")]


def measure_trunks(base: DetectTrainConfig, ctx: Context, seeds: int) -> TrunkComparison:
    if find_imagenet("mobilenet_v2", ctx.settings.weights_dir) is None:
        known = next(k.file for k in KNOWN_CHECKPOINTS if k.backbone == "mobilenet_v2")
        return TrunkComparison([], f"No ImageNet MobileNetV2 weights on this machine, so the trunks were not "
                                   f"compared: place {known} (or torchvision's mobilenet_v2-7ebf99e0.pth) in the "
                                   f"weights folder {ctx.settings.weights_dir}/.")
    runs = []
    with CpuWatch() as watch:
        for seed in range(base.seed, base.seed + seeds):
            for name, source in TRUNKS.items():
                cfg = base.replace(model=MODEL, weights="none", weights_backbone=source, seed=seed,
                                   time_budget_min=0.0)
                run, result, _ = train_detector(cfg, ctx.settings, run=ctx.run.child(f"trunk-{source}-s{seed}"),
                                                log=ctx.log)
                runs.append(TrunkRun(name, seed, *_curve(run), result.test["map50"], result.trunk))
    return TrunkComparison(runs, timing_measured=watch.contention.quiet)


def _mean(curves: list[list[float]]) -> list[float]:
    n = min(len(c) for c in curves)
    return [sum(c[i] for c in curves) / len(curves) for i in range(n)]


def _figures(page: Page, c: TrunkComparison, by: dict[str, list[TrunkRun]]) -> list[str]:
    """mAP@0.5 against images seen (and against seconds on a quiet machine); none for one-epoch runs, whose single
    point per trunk the table shows."""
    curves = {name: _mean([r.val_map50 for r in runs]) for name, runs in by.items()}
    if min(len(v) for v in curves.values()) < 2:
        return []
    seen = {name: _mean([[float(v) for v in r.images_seen] for r in runs]) for name, runs in by.items()}
    blocks = [page.figure("trunks", plot_compare(curves, "validation mAP@0.5", "pretrained vs random trunk", x=seen,
                                                 xlabel="training images seen"),
                          "validation mAP@0.5 against images seen (mean over seeds)")]
    if c.timing_measured:
        secs = {name: _mean([r.seconds for r in runs]) for name, runs in by.items()}
        blocks.append(page.figure("trunks_time", plot_compare(curves, "validation mAP@0.5", x=secs,
                                                              xlabel="training seconds"),
                                  "validation mAP@0.5 against training seconds (mean over seeds)"))
    return blocks


def trunks_section(page: Page, c: TrunkComparison) -> None:
    """Curves of mAP@0.5 against images seen (and seconds), a table per run, and the one claim."""
    page.add("## What a pretrained trunk buys (SSDLite on MobileNetV2, same images seen)")
    if c.missing:
        page.add(c.missing)
        return
    by = {name: [r for r in c.runs if r.name == name] for name in TRUNKS}
    samples = {name: Sample.of([r.test_map50 for r in runs]) for name, runs in by.items()}
    (a, sa), (b, sb) = samples.items()
    claim = compare(a, sa, b, sb).sentence("test mAP@0.5")
    blocks = _figures(page, c, by)
    rows = [[r.name, r.seed, f"{r.images_seen[-1]:,}" if r.images_seen else "0", f"{r.test_map50:.3f}"]
            for r in c.runs]
    means = ", ".join(f"{name} {mean_pm(s, scale=1.0, digits=3)}" for name, s in samples.items())
    source = by[next(iter(TRUNKS))][0].trunk  # the first of TRUNKS is the pretrained one
    page.add(*blocks, table(["trunk", "seed", "images seen", "test mAP@0.5"], rows),
             f"The ImageNet trunk's weights: {source}. Test mAP@0.5: {means}. {claim}")
    page.findings.append(claim)
    page.details["trunks"] = {name: list(s.values) for name, s in samples.items()}
