"""detection: fine-tune an SSDLite/MobileNetV3 detector on generated shapes and report its box mAP.

Everything is generated (coloured circles, squares and triangles on noise, exact boxes), so the experiment runs
offline. The MobileNetV3 trunk starts from random weights unless `--weights-backbone imagenet` finds ImageNet
weights. The defaults are the 20-minute recipe (`SHAPES_DET_RECIPE`): 96x96, 10000 fresh training images, and a
time budget that ends training on time on a slow or shared machine. The nested run (`runs/train/`) is a whole
train-detector run: `neuralab detect --model` takes it as is.
"""

from __future__ import annotations

from dataclasses import dataclass

from neuralab.config import option
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.report.markdown import table
from neuralab.train.detection import SHAPES_DET_RECIPE as R
from neuralab.train.detection import DetectTrainConfig, generated, train_detector


@dataclass
class DetectionConfig(ExperimentConfig):
    dataset: str = option("shapes-det", "shapes-det, digits-det, coco:PATH or voc:PATH")
    model: str = option("ssdlite320_mobilenet_v3_large", "detector name")
    weights_backbone: str = option("none", "MobileNetV3 trunk: 'imagenet' or 'none'")
    epochs: int = option(R["epochs"], "training epochs, at most (quick: at most 2)")
    image_size: int = option(R["image_size"], "square image size")
    n_samples: int = option(R["n_samples"], "generated images: a tenth each for validation and test (quick: <= 400)")
    train_images: int = option(R["train_images"], "fresh generated training images (quick: <= 4000)")
    time_budget_min: float = option(R["time_budget_min"], "minutes of training, validation included (quick: <= 1)")
    lr: float = option(R["lr"], "peak learning rate")


@experiment("detection", DetectionConfig, "fine-tune SSDLite/MobileNetV3 on generated shapes, box mAP",
            order=60, demo=False, examples=["neuralab run detection", "neuralab run detection --quick",
                                            "neuralab run detection --dataset digits-det --epochs 20"])
def detection(cfg: DetectionConfig, ctx: Context) -> dict:
    # Quick: the recipe on a one-minute clock (which also drives the LR decay), tested on 40 images: enough for the
    # boxes to land (mAP@0.5 ~0.4 on a loaded 2-core machine); the full recipe reaches 0.997 in ~8 minutes.
    gen, q = generated(cfg.dataset), cfg.quick
    tcfg = DetectTrainConfig(dataset=cfg.dataset, model=cfg.model, weights_backbone=cfg.weights_backbone,
                             epochs=min(cfg.epochs, 2) if q else cfg.epochs, image_size=cfg.image_size,
                             n_samples=min(cfg.n_samples, 400) if q else cfg.n_samples, lr=cfg.lr,
                             train_images=(min(cfg.train_images, 4000) if q else cfg.train_images) if gen else 0,
                             time_budget_min=min(cfg.time_budget_min or 1.0, 1.0) if q else cfg.time_budget_min,
                             batch_size=R["batch_size"], min_scale=R["min_scale"], seed=cfg.seed)
    run, summary, _ = train_detector(tcfg, ctx.settings, run=ctx.run.child("train"), log=ctx.log)
    t = summary["test"]
    rows = [[tcfg.model, tcfg.weights_backbone, tcfg.image_size, summary["images"]["train"], summary["epochs"],
             f"{t['map50']:.3f}", f"{t['map']:.3f}", f"{summary['train_seconds']:.0f}",
             f"{summary['train_images_per_s']:.1f}", f"{summary['wall_minutes']:.1f}"]]
    ctx.run.write_report("\n\n".join([
        "# detection", f"{tcfg.model} fine-tuned on {cfg.dataset}"
        f"{' (quick mode: a one-minute training budget)' if cfg.quick else ''}.",
        table(["model", "trunk weights", "image size", "train images", "epochs", "test mAP@0.5", "test mAP", "train s",
               "train img/s", "wall min"], rows),
        "![predictions vs ground truth](runs/train/plots/predictions.png)",
        "![validation mAP](runs/train/plots/map.png)",
        "The detector is `runs/train/checkpoints/model.safetensors` (`neuralab detect --model runs/train`).",
    ]) + "\n")
    keys = ("train_seconds", "train_images_per_s", "infer_images_per_s", "wall_minutes", "cpu_minutes", "stopped_by")
    return {"test": t, "train": {k: summary[k] for k in keys},
            "headline": summary["headline"]}
