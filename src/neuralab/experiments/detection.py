"""detection: train an SSDLite/MobileNetV3 detector on generated shapes and report its box mAP.

Everything is generated (coloured circles, squares and triangles on noise, exact boxes), so the experiment runs
offline. The MobileNetV3 trunk starts from random weights unless `--weights-backbone imagenet` finds ImageNet
weights, and the page says which. The defaults are the 20-minute recipe (`SHAPES_DET_RECIPE`): 96x96, 10000 fresh
training images, and a time budget that ends training on time on a slow or shared machine. The nested run
(`runs/train/`) is a whole train-detector run: `neuralab detect --model` takes it as is.

A detector can fail in a way mAP alone hides: a collapsed one answers every image with the same boxes and scores,
or fires far more boxes than there are objects. The training run checks its test predictions for both
(train/detection_health.py, the one implementation) and the page says so plainly instead of presenting the pictures
as a result.

No box-annotated real photos can be had offline, so the page also shows a pretrained ImageNet MobileNetV2 localising
real cats and dogs with class activation maps, when its weights and the photos are here (experiments/detection_cam.py).
`--compare-trunks` (full mode only: it trains 2 x seeds more detectors) adds what a pretrained trunk buys: SSDLite on
MobileNetV2 with the ImageNet trunk vs from random weights at the same images seen (experiments/detection_trunks.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from neuralab.config import option
from neuralab.data.detection import DetSplit
from neuralab.experiments.detection_cam import CamResult, cam_section, measure_cam
from neuralab.experiments.detection_trunks import TrunkComparison, measure_trunks, trunks_section
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.timing import Contention, CpuWatch
from neuralab.records import EpochRow
from neuralab.report.detection import map_curves, prediction_grid
from neuralab.report.markdown import table
from neuralab.report.page import Page
from neuralab.train.detection import SHAPES_DET_RECIPE as R
from neuralab.train.detection import (DetectResult, DetectTrainConfig, generated, load_detection_data, predict,
                                      train_detector)

LEARNED = 0.5  # test mAP@0.5 below this: the page says the detector did not learn the task at this budget
SHOWN = 8  # test images drawn with their predictions


@dataclass
class DetectionConfig(ExperimentConfig):
    dataset: str = option("shapes-det", "shapes-det, digits-det, coco:PATH or voc:PATH")
    model: str = option("ssdlite320_mobilenet_v3_large", "detector name")
    weights_backbone: Literal["none", "imagenet"] = option("none", "the MobileNet trunk: 'imagenet' (as --weights "
                                                                   "imagenet finds it) or 'none' (random)")
    epochs: int = option(R["epochs"], "training epochs, at most (the time budget may end training first)", min=1)
    image_size: int = option(R["image_size"], "square image size", min=32, max=2048)
    n_samples: int = option(R["n_samples"], "generated images: a tenth each for validation and test", min=0)
    train_images: int = option(R["train_images"], "fresh generated training images (0 = the dataset's own)", min=0)
    time_budget_min: float = option(R["time_budget_min"], "minutes of training, validation included (0 = none)",
                                    min=0)
    lr: float = option(R["lr"], "peak learning rate", above=0)
    score_threshold: float = option(0.5, "score at which a box is drawn in the pictures (the collapse check is the "
                                         "training run's, at 0.5)", above=0, max=1)
    compare_trunks: bool = option(False, "also train SSDLite-MobileNetV2 with the ImageNet trunk and from random "
                                         "weights on the same images (full mode; needs the ImageNet weights here)")
    trunk_images: int = option(4000, "--compare-trunks: fresh generated training images per run", min=1)
    trunk_epochs: int = option(3, "--compare-trunks: epochs per run (points on the curves)", min=1, max=100)
    trunk_seeds: int = option(2, "--compare-trunks: seeds per trunk (a claim needs two)", min=1, max=10)
    cam_photos: int = option(8, "real cat/dog photos localised by a pretrained MobileNetV2's class activation maps, "
                                "when its weights and the photos are here (0: none)", min=0, max=64)
    # Quick: one pass over 6,000 fresh images with a schedule driven by the steps (measured: test mAP@0.5 0.83 on 40
    # images, 2.5 CPU-minutes on one thread); the 2.5-minute clock only cuts a run short on a busy machine, and the
    # page then says it did not learn. 40 validation and 40 test images.
    # The trunk comparison trains 2 x seeds more detectors: never part of the quick tour.
    QUICK: ClassVar[dict[str, Any]] = {"epochs": 1, "train_images": 6000, "n_samples": 400, "time_budget_min": 2.5,
                                       "compare_trunks": False}

    def train_config(self) -> DetectTrainConfig:
        return DetectTrainConfig(dataset=self.dataset, model=self.model, weights_backbone=self.weights_backbone,
                                 epochs=self.epochs, image_size=self.image_size, n_samples=self.n_samples, lr=self.lr,
                                 train_images=self.train_images if generated(self.dataset) else 0,
                                 time_budget_min=self.time_budget_min, batch_size=R["batch_size"],
                                 min_scale=R["min_scale"], seed=self.seed)


@dataclass(frozen=True)
class DetectionResult:
    cfg: DetectionConfig
    train: DetectTrainConfig  # what trained
    result: DetectResult
    val_rows: list[EpochRow]
    shown: DetSplit  # the first test images, with ground truth
    shown_preds: list[dict[str, Any]]  # their predictions
    contention: Contention  # whether other programs competed for the CPUs (then no seconds are shown)
    cam: CamResult | None = None  # real photos localised by a pretrained classifier (None: not asked)
    trunks: TrunkComparison | None = None  # pretrained vs random trunk (None: not asked)


def trunk(cfg: DetectTrainConfig, source: str = "") -> str:
    """What the detector started from, as the run found it (`source`: where its trunk's weights came from)."""
    if cfg.weights != "none":
        return f"fine-tuned from the detector weights {cfg.weights}"
    if cfg.weights_backbone != "none":
        return (f"trained with a pretrained trunk ({source or cfg.weights_backbone}; the detection head from random "
                f"weights)")
    return "trained from random weights (no pretrained trunk)"


def _verdict(r: DetectionResult) -> tuple[str, str]:
    """(headline, plain sentence) — a collapsed or untrained detector is said to be one, not shown as a result."""
    t, h = r.result.test, r.result.health
    if h.collapsed:
        return f"collapsed detector (test mAP@0.5 {t['map50']:.3f}, not a result)", h.sentence()
    if t["map50"] < LEARNED:
        return (f"test mAP@0.5 {t['map50']:.3f}: did not learn the task at this budget",
                f"The detector did not learn the task at this budget: test mAP@0.5 {t['map50']:.3f} is below "
                f"{LEARNED}. {h.sentence()} More training images or minutes would tell (the full recipe: "
                f"`neuralab run detection`).")
    return f"test mAP@0.5 {t['map50']:.3f} (mAP {t['map']:.3f}), {r.train.model}", h.sentence()


def _table(r: DetectionResult) -> str:
    """What trained and what it reached; seconds and images/s only when the machine was quiet."""
    res, tc, t = r.result, r.train, r.result.test
    header = ["trunk", "training images", "images seen", "epochs run", "test mAP@0.5", "test mAP"]
    row = ["random" if res.trunk == "random" else tc.weights_backbone, f"{res.images['train']:,}",
           f"{res.images_seen:,}", res.epochs, f"{t['map50']:.3f}", f"{t['map']:.3f}"]
    if r.contention.quiet:
        header += ["train s", "train img/s", "wall min"]
        row += [f"{res.train_seconds:.0f}", f"{res.train_images_per_s:.1f}", f"{res.wall_minutes:.1f}"]
    return table(header, [row])


def render(r: DetectionResult) -> Page:
    res, tc, t = r.result, r.train, r.result.test
    headline, verdict = _verdict(r)
    page = Page("detection", headline, test={k: t[k] for k in ("map50", "map", "map75")})
    asked = f" of {tc.epochs} allowed" if res.epochs < tc.epochs else ""
    asked += ", the last one cut short" if res.images_seen < res.epochs * res.images["train"] else ""
    page.add(f"{tc.model} on {tc.dataset}, {trunk(tc, res.trunk)}, at {tc.image_size}x{tc.image_size}: "
             f"{res.images['train']:,} training images, {res.images['val']} validation, {res.images['test']} test. Training ran "
             f"{res.epochs} epoch(s){asked} ({res.steps:,} steps, {res.images_seen:,} training images seen), stopped "
             f"by {res.stopped_by}.",
             _table(r), r.contention.note(),
             f"**{verdict}**" if res.health.collapsed or t["map50"] < LEARNED else verdict)
    caption = "predictions (collapsed: not a result)" if res.health.collapsed else "predictions vs ground truth"
    page.add(page.figure("predictions", prediction_grid(r.shown, r.shown_preds, res.classes, len(r.shown),
                                                        r.cfg.score_threshold), caption))
    if len(r.val_rows) > 1:
        page.add(page.figure("map", map_curves(r.val_rows), "validation mAP per epoch"))
    page.add(table(["epoch", "val mAP", "val mAP@0.5"],
                   [[row.epoch, f"{row.metric('map'):.3f}", f"{row.metric('map50'):.3f}"] for row in r.val_rows]),
             "The detector is `runs/train/checkpoints/model.safetensors` (`neuralab detect --model RUN/runs/train`).")
    page.findings.append(verdict)
    if r.cam is not None:
        cam_section(page, r.cam)
    if r.trunks is not None:
        trunks_section(page, r.trunks)
    page.details.update(collapse=res.health.to_json(), trunk=res.trunk, images_seen=res.images_seen,
                        epochs=res.epochs, stopped_by=res.stopped_by,
                        timing_measured=r.contention.quiet,
                        train_seconds=res.train_seconds, wall_minutes=res.wall_minutes, cpu_minutes=res.cpu_minutes)
    return page


@experiment("detection", DetectionConfig, "train SSDLite/MobileNetV3 on generated shapes (random weights by default), "
                                          "box mAP; a pretrained MobileNetV2 localising real cats and dogs", render,
            order=60, demo=False, examples=["neuralab run detection", "neuralab run detection --quick",
                                            "neuralab run detection --dataset digits-det --epochs 20"])
def measure(cfg: DetectionConfig, ctx: Context) -> DetectionResult:
    tcfg = cfg.train_config()
    with CpuWatch() as watch:
        run, result, model = train_detector(tcfg, ctx.settings, run=ctx.run.child("train"), log=ctx.log)
    # the first test images again (generated splits do not depend on the training size), to draw; the collapse
    # check is the training run's own, on the whole test split
    test = load_detection_data(tcfg.dataset, ctx.settings, tcfg.image_size, tcfg.n_samples,
                               1 if tcfg.train_images else 0).test
    shown = test.take(range(min(SHOWN, len(test))))
    cam = measure_cam(ctx.settings, cfg.cam_photos) if cfg.cam_photos else None
    trunks = None
    if cfg.compare_trunks:
        base = tcfg.replace(train_images=cfg.trunk_images if generated(cfg.dataset) else 0, epochs=cfg.trunk_epochs)
        trunks = measure_trunks(base, ctx, cfg.trunk_seeds)
    return DetectionResult(cfg, tcfg, result, run.metrics("val"), shown, predict(model, shown, tcfg.batch_size),
                           watch.contention, cam, trunks)
