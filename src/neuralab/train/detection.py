"""Train a MobileNet detector (SSDLite or Faster R-CNN) on a detection dataset, and measure box mAP.

`train_detector(cfg)` replaces the detector's class head for the dataset's classes (the trunk random, or ImageNet's
with --weights-backbone), trains with box-safe augmentation (flip, zoom-out), evaluates COCO mAP and mAP@0.5 on the
validation split every epoch (torchmetrics `MeanAveragePrecision`, pycocotools backend), keeps the epoch with the
best validation mAP@0.5, and reads the test split once at the end — and checks the test predictions for collapse
(the same output on every image, or far more boxes than objects), which the result records and the report says.
The run directory holds `checkpoints/model.safetensors` (+ `model.json`: model name, classes, image size, input
normalisation), which `neuralab detect --model RUN` loads as it is.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from neuralab.config import Config, Settings, option, to_dict
from neuralab.data import load_dataset
from neuralab.data.detection import DetDataset, DetSplit
from neuralab.data.detection_augment import augment
from neuralab.data.registry import DATASETS, parse_name
from neuralab.errors import ConfigError, TrainingDiverged
from neuralab.heap import retained_heap
from neuralab.models.checkpoint import save_model
from neuralab.models.detectors import DETECTORS, build_detector, detector_card, load_detector
from neuralab.records import RunSummary
from neuralab.report.detection import write_detection_report
from neuralab.runs import Run
from neuralab.seed import seed_everything
from neuralab.train.detection_health import Health, health


@dataclass
class DetectTrainConfig(Config):
    dataset: str = option("shapes-det", "shapes-det, digits-det, coco:PATH or voc:PATH")
    model: str = option("ssdlite320_mobilenet_v3_large", f"detector: {', '.join(DETECTORS.names())}")
    weights: str = option("none", "detector weights: 'coco' (torchvision weights API), a .safetensors/.pth file, "
                                  "or 'none'")
    weights_backbone: str = option("none", "the MobileNet trunk: 'imagenet' (torchvision's file or a known "
                                           "checkpoint in the weights folder, else the weights API), a classifier's "
                                           "weights file, or 'none' (random)")
    epochs: int = option(10, "passes over the training set", min=1)
    batch_size: int = option(16, "images per step", min=1, max=4096)
    lr: float = option(2e-3, "peak learning rate (AdamW, warm-up then cosine decay)", above=0)
    weight_decay: float = option(1e-4, "AdamW weight decay", min=0)
    image_size: int = option(128, "images are stretched to this square size, and the model works at this size",
                             min=32, max=2048)
    n_samples: int = option(0, "generated datasets: images in all splits together (0 = dataset default)", min=0)
    train_images: int = option(0, "generated datasets: fresh training images, validation and test splits unchanged "
                                  "(0 = the dataset's own training split)", min=0)
    time_budget_min: float = option(0.0, "end training when this many minutes have passed since the start (data, "
                                         "model and validation included), then test; the learning rate decays with "
                                         "the clock, so it reaches zero on time (0 = no limit: --epochs decides)", min=0)
    flip: bool = option(True, "random horizontal flips (boxes mirrored with the pixels)")
    min_scale: float = option(0.6, "random zoom-out down to this scale (1 = off)", above=0, max=1)
    trunk_lr_scale: float = option(0.1, "a pretrained trunk's learning rate, as a fraction of --lr (at the full "
                                        "rate AdamW wrecks the ImageNet trunk within an epoch and the detector "
                                        "collapses)", above=0, max=1)
    bn_momentum: float = option(0.1, "at least this batch-norm momentum (SSDLite's own 0.03 lags in short runs)",
                                min=0, max=1)
    seed: int = option(0, "random seed", min=0)


# The recipe that takes SSDLite/MobileNetV3, from random weights, past mAP@0.5 0.9 on shapes-det within 20 minutes
# of 2 CPU cores (README "Object detection"; benchmarks/detect_train.py --full). Why each value:
# - image_size 96: the first SSDLite feature map is then 6x6 (stride 16); at 64 it is 4x4 and 63% of the objects
#   have no anchor with IoU >= 0.5 (34% at 96, 15% at 128), which cost 0.4 mAP@0.5 in a like-for-like run, while
#   128 would cost 1.8x the compute per image.
# - train_images 10000: fresh generated images instead of 480 seen 16 times (the 0.79 run); 200 val / 200 test.
# - min_scale 1: the test objects are 20-45% of the image; zoom-out only adds smaller ones the test never has.
# - epochs 3 with time_budget_min 18: the budget, not the epoch count, ends a run on a slow or shared machine,
#   and the cosine schedule follows the clock; 18 leaves the last validation and the test inside 20 minutes.
SHAPES_DET_RECIPE: dict[str, Any] = {
    "dataset": "shapes-det", "model": "ssdlite320_mobilenet_v3_large", "weights": "none", "image_size": 96,
    "n_samples": 2000, "train_images": 10000, "epochs": 3, "batch_size": 16, "lr": 4e-3, "min_scale": 1.0,
    "time_budget_min": 18.0,
}


def generated(name: str) -> bool:
    """Whether `name` is a generated dataset (one that --train-images can enlarge)."""
    return DATASETS.get(parse_name(name)[0]).kind == "generated"


def load_detection_data(name: str, settings: Settings, image_size: int | None, n_samples: int = 0,
                        n_train: int = 0) -> DetDataset:
    if n_train and not generated(name):
        raise ConfigError(f"--train-images applies to generated datasets (shapes-det, digits-det), not {name}")
    return load_dataset(name, settings, task="detection", image_size=image_size, n_samples=n_samples or None,
                        n_train=n_train or None)


# -- batches ------------------------------------------------------------------------------------------------
def image_tensor(split: DetSplit, i: int) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(split.images[i])).float().div_(255)


def targets_of(split: DetSplit, idx: list[int], label_offset: int = 1) -> list[dict[str, torch.Tensor]]:
    return [{"boxes": torch.from_numpy(split.boxes[i]).float().reshape(-1, 4),
             "labels": torch.from_numpy(split.labels[i]).long() + label_offset} for i in idx]


@torch.no_grad()
def predict(model: nn.Module, split: DetSplit, batch_size: int = 16) -> list[dict[str, torch.Tensor]]:
    model.eval()
    out: list[dict[str, torch.Tensor]] = []
    for start in range(0, len(split), batch_size):
        idx = list(range(start, min(start + batch_size, len(split))))
        out += [{k: v.cpu() for k, v in p.items()} for p in model([image_tensor(split, i) for i in idx])]
    return out


def box_map(preds: list[dict[str, torch.Tensor]], targets: list[dict[str, torch.Tensor]]) -> dict[str, float]:
    """COCO box mAP (IoU 0.50:0.95), mAP@0.5 and mAP@0.75 (torchmetrics, pycocotools backend)."""
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools")
    metric.warn_on_many_detections = False  # COCO's rule: the 100 best-scoring boxes per image count
    metric.update(preds, targets)
    r = metric.compute()
    return {"map": float(r["map"]), "map50": float(r["map_50"]), "map75": float(r["map_75"])}


def evaluate(model: nn.Module, split: DetSplit, batch_size: int = 16,
             label_map: dict[int, int] | None = None) -> tuple[dict[str, float], list[dict[str, torch.Tensor]]]:
    """mAP of `model` on `split`. label_map sends model labels to dataset labels + 1 (pretrained label spaces);
    predictions whose label has no entry are dropped."""
    t = time.perf_counter()
    preds = predict(model, split, batch_size)
    seconds = time.perf_counter() - t
    if label_map is not None:
        mapped = []
        for p in preds:
            keep = torch.tensor([int(lab) in label_map for lab in p["labels"]], dtype=torch.bool)
            labels = torch.tensor([label_map.get(int(lab), 0) for lab in p["labels"]], dtype=torch.long)
            mapped.append({"boxes": p["boxes"][keep], "scores": p["scores"][keep], "labels": labels[keep]})
        preds = mapped
    metrics = box_map(preds, targets_of(split, list(range(len(split)))))
    metrics["images_per_s"] = len(split) / max(seconds, 1e-9)
    return metrics, preds


# -- training -----------------------------------------------------------------------------------------------
class Clock:
    """How far training is: the larger of steps done / total steps and, with a budget, seconds spent / budget.
    The learning rate follows it, so a time-limited run still ends its cosine decay at zero, on time."""

    def __init__(self, total_steps: int, budget_s: float = 0.0, start: float | None = None) -> None:
        self.total, self.budget = max(1, total_steps), budget_s
        self.start = time.perf_counter() if start is None else start

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def progress(self, step: int) -> float:
        return min(1.0, max(step / self.total, self.elapsed() / self.budget if self.budget else 0.0))

    def out_of_time(self) -> bool:
        return bool(self.budget) and self.elapsed() >= self.budget


def _lr_at(step: int, warmup: int, progress: float) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay from 1 to 0 as `progress` goes from 0 to 1."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * progress))


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, split: DetSplit, cfg: DetectTrainConfig,
                gen: torch.Generator, step: int, total: int, epoch: int,
                clock: Clock | None = None) -> tuple[float, int]:
    """One pass over `split` (cut short when `clock` runs out of time); returns (mean loss, steps done so far)."""
    model.train()
    clock = clock or Clock(total)
    order = torch.randperm(len(split), generator=gen).tolist()
    losses = []
    warmup = min(100, total // 10 + 1)
    for start in range(0, len(order), cfg.batch_size):
        if clock.out_of_time():
            break
        idx = order[start:start + cfg.batch_size]
        images, targets = [], targets_of(split, idx)
        for i, t in zip(idx, targets):
            im, t["boxes"] = augment(image_tensor(split, i), t["boxes"], gen, cfg.flip, cfg.min_scale)
            images.append(im)
        for g in opt.param_groups:
            g["lr"] = cfg.lr * g.get("lr_scale", 1.0) * _lr_at(step, warmup, clock.progress(step))
        loss = sum(model(images, targets).values())
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"detection loss became {loss.item()} at epoch {epoch}, step {step}; "
                                   f"lower --lr (now {cfg.lr})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        losses.append(loss.item())
        step += 1
    return float(np.mean(losses)) if losses else float("nan"), step


@dataclass(frozen=True)
class DetectResult:
    test: dict[str, float]  # map, map50, map75, images_per_s
    best_val_map50: float
    epochs: int  # epochs actually run (a time budget can end training early)
    steps: int
    stopped_by: str  # "epochs" or "time budget"
    train_seconds: float
    images_seen: int  # training images processed
    train_images_per_s: float
    infer_images_per_s: float
    minutes_to_trained: float
    wall_minutes: float
    cpu_minutes: float
    threads: int
    images: dict[str, int]  # images per split
    classes: list[str]
    skipped: dict[str, int]  # annotations skipped, by reason
    checkpoint: str
    model: str
    trunk: str  # where the trunk's weights came from ('random' for none)
    health: Health  # the collapse check on the test predictions

    def summary(self) -> RunSummary:
        t = self.test
        headline = f"test mAP@0.5 {t['map50']:.3f} (mAP {t['map']:.3f}), {self.model}"
        if self.health.collapsed:
            headline = f"collapsed detector (test mAP@0.5 {t['map50']:.3f}, not a result), {self.model}"
        details = {k: v for k, v in asdict(self).items() if k not in ("test", "health")}
        return RunSummary(headline=headline, test=t, details={**details, "collapse": self.health.to_json()})


TRUNK_PREFIXES = ("backbone.features.", "backbone.body.")  # SSDLite's MobileNet trunk, Faster R-CNN's (not its FPN)


def _build(cfg: DetectTrainConfig, data: DetDataset, settings: Settings
           ) -> tuple[nn.Module, torch.optim.Optimizer, str]:
    model, info = build_detector(cfg.model, data.num_classes, cfg.weights, cfg.weights_backbone, cfg.image_size,
                                 settings.weights_dir)
    for m in model.modules():
        # SSDLite's batch norms track statistics with momentum 0.03 (made for 600-epoch COCO runs); in a run of a
        # few hundred steps the eval-mode statistics would lag the weights by dozens of steps.
        if isinstance(m, nn.BatchNorm2d) and m.momentum is not None:
            m.momentum = max(m.momentum, cfg.bn_momentum)
    # Channels-last weights make oneDNN run the whole net channels-last: SSDLite-MobileNetV3 at 96 px, batch 16,
    # fp32 trained at 92 images/s here against 73 in the default layout (bf16 was slower: 57-63 images/s, the
    # depthwise convolutions gain nothing from AMX and the casts cost).
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(_param_groups(model, cfg, pretrained=cfg.weights == "none" and info["trunk"] != "random"),
                            lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    return model, opt, info["trunk"]


def _param_groups(model: nn.Module, cfg: DetectTrainConfig, pretrained: bool) -> list[dict[str, Any]]:
    """One group, or with a pretrained trunk two: the trunk at `trunk_lr_scale` x the rate (measured on shapes-det,
    SSDLite-MobileNetV2 with the ImageNet trunk, 2,000 images: at the full rate its features became the same for
    every image and the detector collapsed, mAP@0.5 0.01; at 0.1x, mAP@0.5 0.82). train_epoch reads `lr_scale`."""
    if not pretrained:
        return [{"params": list(model.parameters()), "lr_scale": 1.0}]
    trunk = [p for n, p in model.named_parameters() if n.startswith(TRUNK_PREFIXES)]
    ids = {id(p) for p in trunk}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return [{"params": trunk, "lr_scale": cfg.trunk_lr_scale}, {"params": rest, "lr_scale": 1.0}]


def _epochs(model: nn.Module, opt: torch.optim.Optimizer, data: DetDataset, cfg: DetectTrainConfig, run: Run,
            clock: Clock, log: Callable[[str], None]) -> tuple[int, int, float, float, int]:
    """Train until the epochs or the clock run out, keeping the best validation mAP@0.5;
    returns (epochs run, steps, best mAP@0.5, training seconds, images seen)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    step, best, train_seconds, epochs_run, seen_total = 0, -1.0, 0.0, 0, 0
    for epoch in range(1, cfg.epochs + 1):
        if clock.out_of_time():
            break
        t, before = time.perf_counter(), step
        loss, step = train_epoch(model, opt, data.train, cfg, gen, step, clock.total, epoch, clock)
        seconds = time.perf_counter() - t
        if step == before:
            break
        train_seconds, epochs_run = train_seconds + seconds, epoch
        seen = min(len(data.train), (step - before) * cfg.batch_size)
        seen_total += seen
        run.log(epoch, "train", loss, {"images_per_s": seen / seconds, "images": seen, "steps": step},
                lr=cfg.lr * _lr_at(step, 0, clock.progress(step)), seconds=seconds)
        val, _ = evaluate(model, data.val, cfg.batch_size)
        run.log(epoch, "val", None, val)
        log(f"  epoch {epoch:3d}  loss {loss:.3f}  val mAP {val['map']:.3f}  mAP@0.5 {val['map50']:.3f}  "
            f"({seconds:.0f} s, {seen / seconds:.1f} img/s, {clock.elapsed() / 60:.1f} min)")
        if val["map50"] > best:
            best = val["map50"]
            save_model(run.checkpoints / "model.safetensors", model,
                       detector_card(cfg.model, data.classes, cfg.image_size, cfg.dataset, {"val": val}, model,
                                     epoch=epoch))
    if best < 0:  # the budget ran out before the first step: test the untrained model, honestly labelled
        save_model(run.checkpoints / "model.safetensors", model,
                   detector_card(cfg.model, data.classes, cfg.image_size, cfg.dataset, {}, model, epoch=0))
    return epochs_run, step, best, train_seconds, seen_total


def train_detector(cfg: DetectTrainConfig, settings: Settings | None = None, run: Run | None = None,
                   log: Callable[[str], None] = print) -> tuple[Run, DetectResult, nn.Module]:
    started, cpu_started = time.perf_counter(), time.process_time()
    settings = settings or Settings.resolve()
    seed_everything(cfg.seed)
    data = load_detection_data(cfg.dataset, settings, cfg.image_size, cfg.n_samples, cfg.train_images)
    config = {"command": "train-detector", "config": to_dict(cfg), "settings": to_dict(settings)}
    if run is None:
        run = Run.create(settings.runs_dir, f"{data.name.replace(':', '-')}-{cfg.model.split('_')[0]}", config)
    else:  # a child run of an experiment saves the config it really trained with, too
        run.write_config(config)
    model, opt, trunk = _build(cfg, data, settings)
    clock = Clock(cfg.epochs * math.ceil(len(data.train) / cfg.batch_size), 60 * cfg.time_budget_min, start=started)
    budget = f", budget {cfg.time_budget_min:g} min" if cfg.time_budget_min else ""
    log(f"[train-detector] {cfg.model} on {data.source}: {len(data.train)} train / {len(data.val)} val / "
        f"{len(data.test)} test images, {data.num_classes} classes{budget}; trunk: {trunk}; run {run.path}")
    with retained_heap():
        epochs_run, step, best, train_seconds, seen = _epochs(model, opt, data, cfg, run, clock, log)
    train_done = clock.elapsed()
    model, _ = load_detector(run.checkpoints / "model.safetensors")
    test, preds = evaluate(model, data.test, cfg.batch_size)
    run.log(epochs_run, "test", None, test)
    checked = health(preds, data.test)
    if checked.collapsed:
        log(f"[train-detector] {checked.sentence()}")
    result = DetectResult(
        test=test, best_val_map50=best, epochs=epochs_run, steps=step,
        stopped_by="time budget" if clock.out_of_time() or epochs_run < cfg.epochs else "epochs",
        train_seconds=train_seconds, images_seen=seen, train_images_per_s=seen / max(train_seconds, 1e-9),
        infer_images_per_s=test["images_per_s"], minutes_to_trained=train_done / 60,
        wall_minutes=(time.perf_counter() - started) / 60, cpu_minutes=(time.process_time() - cpu_started) / 60,
        threads=torch.get_num_threads(), images={k: len(v) for k, v in data.splits().items()},
        classes=data.classes, skipped=data.skipped, checkpoint=str(run.checkpoints / "model.safetensors"),
        model=cfg.model, trunk=trunk, health=checked)
    write_detection_report(run, cfg, data, result.summary().to_json(), preds)
    run.write_summary(result.summary())
    return run, result, model
