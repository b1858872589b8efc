"""Fine-tune a torchvision MobileNetV3 detector on a detection dataset, and measure box mAP.

`train_detector(cfg)` replaces the detector's class head for the dataset's classes, trains with box-safe
augmentation (flip, zoom-out), evaluates COCO mAP and mAP@0.5 on the validation split every epoch (torchmetrics
`MeanAveragePrecision`, pycocotools backend), keeps the epoch with the best validation mAP@0.5, and reads the test
split once at the end. The run directory holds `checkpoints/model.safetensors` (+ `model.json`: model name,
classes, image size), which `neuralab detect --model RUN` loads as it is.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from neuralab.config import Settings, option, to_dict
from neuralab.data.detection import DetDataset, DetSplit
from neuralab.data.detection_augment import augment
from neuralab.errors import ConfigError, TrainingDiverged
from neuralab.models.detectors import DETECTORS, build_detector
from neuralab.runs import Run
from neuralab.seed import seed_everything
from neuralab.train.checkpoint import save_model


@dataclass
class DetectTrainConfig:
    dataset: str = option("shapes-det", "shapes-det, digits-det, coco:PATH or voc:PATH")
    model: str = option("ssdlite320_mobilenet_v3_large", f"detector: {', '.join(DETECTORS.names())}")
    weights: str = option("none", "detector weights: 'coco' (torchvision weights API), a .safetensors/.pth file, "
                                  "or 'none'")
    weights_backbone: str = option("none", "MobileNetV3 trunk: 'imagenet' (weights API, helps on real photos) or "
                                           "'none' (random; what works offline)")
    epochs: int = option(10, "passes over the training set")
    batch_size: int = option(16, "images per step")
    lr: float = option(2e-3, "peak learning rate (AdamW, warm-up then cosine decay)")
    weight_decay: float = option(1e-4, "AdamW weight decay")
    image_size: int = option(128, "images are stretched to this square size, and the model works at this size")
    n_samples: int = option(0, "generated datasets: images in all splits together (0 = dataset default)")
    flip: bool = option(True, "random horizontal flips (boxes mirrored with the pixels)")
    min_scale: float = option(0.6, "random zoom-out down to this scale (1 = off)")
    bn_momentum: float = option(0.1, "at least this batch-norm momentum (SSDLite's own 0.03 lags in short runs)")
    seed: int = option(0, "random seed")

    def __post_init__(self) -> None:
        for k in ("epochs", "batch_size", "image_size"):
            if getattr(self, k) < 1:
                raise ConfigError(f"--{k.replace('_', '-')} must be at least 1. Received: {k}={getattr(self, k)}")
        if not 0 < self.min_scale <= 1:
            raise ConfigError(f"--min-scale must be in (0, 1]. Received: min_scale={self.min_scale}")


def load_detection_data(name: str, settings: Settings, image_size: int | None, n_samples: int = 0) -> DetDataset:
    from neuralab.data import load_dataset

    data = load_dataset(name, settings, image_size=image_size, n_samples=n_samples or None)
    if not isinstance(data, DetDataset):
        raise ConfigError(f"{name} is not a detection dataset; use shapes-det, digits-det, coco:PATH or voc:PATH")
    return data


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
def _lr_at(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, split: DetSplit, cfg: DetectTrainConfig,
                gen: torch.Generator, step: int, total: int, epoch: int) -> tuple[float, int]:
    model.train()
    order = torch.randperm(len(split), generator=gen).tolist()
    losses = []
    warmup = min(100, total // 10 + 1)
    for start in range(0, len(order), cfg.batch_size):
        idx = order[start:start + cfg.batch_size]
        images, targets = [], targets_of(split, idx)
        for i, t in zip(idx, targets):
            im, t["boxes"] = augment(image_tensor(split, i), t["boxes"], gen, cfg.flip, cfg.min_scale)
            images.append(im)
        for g in opt.param_groups:
            g["lr"] = cfg.lr * _lr_at(step, total, warmup)
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
    return float(np.mean(losses)), step


def checkpoint_meta(cfg: DetectTrainConfig, data: DetDataset, metrics: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "detector", "model": cfg.model, "classes": data.classes, "image_size": cfg.image_size,
            "dataset": cfg.dataset, "source": data.source, "metrics": metrics}


def train_detector(cfg: DetectTrainConfig, settings: Settings | None = None, run: Run | None = None,
                   log: Callable[[str], None] = print) -> tuple[Run, dict[str, Any], nn.Module]:
    from neuralab.train.detection_report import write_detection_report

    settings = settings or Settings.resolve()
    seed_everything(cfg.seed)
    data = load_detection_data(cfg.dataset, settings, cfg.image_size, cfg.n_samples)
    if run is None:
        run = Run.create(settings.runs_dir, f"{data.name.replace(':', '-')}-{cfg.model.split('_')[0]}",
                         {"command": "train-detector", "config": to_dict(cfg), "settings": to_dict(settings)})
    model, _ = build_detector(cfg.model, data.num_classes, cfg.weights, cfg.weights_backbone, cfg.image_size)
    for m in model.modules():
        # SSDLite's batch norms track statistics with momentum 0.03 (made for 600-epoch COCO runs); in a run of a
        # few hundred steps the eval-mode statistics would lag the weights by dozens of steps.
        if isinstance(m, nn.BatchNorm2d) and m.momentum is not None:
            m.momentum = max(m.momentum, cfg.bn_momentum)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    total = cfg.epochs * math.ceil(len(data.train) / cfg.batch_size)
    step, best, train_seconds = 0, -1.0, 0.0
    log(f"[train-detector] {cfg.model} on {data.source}: {len(data.train)} train / {len(data.val)} val / "
        f"{len(data.test)} test images, {data.num_classes} classes; run {run.path}")
    for epoch in range(1, cfg.epochs + 1):
        t = time.perf_counter()
        loss, step = train_epoch(model, opt, data.train, cfg, gen, step, total, epoch)
        seconds = time.perf_counter() - t
        train_seconds += seconds
        run.log(epoch, "train", loss, {"images_per_s": len(data.train) / seconds}, lr=cfg.lr, seconds=seconds)
        val, _ = evaluate(model, data.val, cfg.batch_size)
        run.log(epoch, "val", None, val)
        log(f"  epoch {epoch:3d}  loss {loss:.3f}  val mAP {val['map']:.3f}  mAP@0.5 {val['map50']:.3f}  "
            f"({seconds:.0f} s, {len(data.train) / seconds:.1f} img/s)")
        if val["map50"] > best:
            best = val["map50"]
            save_model(run.checkpoints / "model.safetensors", model, checkpoint_meta(cfg, data, {"epoch": epoch,
                                                                                              "val": val}))
    from neuralab.models.detectors import load_detector

    model, _ = load_detector(run.checkpoints / "model.safetensors")
    test, preds = evaluate(model, data.test, cfg.batch_size)
    run.log(cfg.epochs, "test", None, test)
    summary = {"test": test, "best_val_map50": best, "epochs": cfg.epochs, "train_seconds": train_seconds,
               "train_images_per_s": cfg.epochs * len(data.train) / max(train_seconds, 1e-9),
               "infer_images_per_s": test["images_per_s"], "classes": data.classes, "skipped": data.skipped,
               "checkpoint": str(run.checkpoints / "model.safetensors"),
               "headline": f"test mAP@0.5 {test['map50']:.3f} (mAP {test['map']:.3f}), {cfg.model}"}
    write_detection_report(run, cfg, data, summary, preds)
    run.write_summary(summary)
    return run, summary, model
