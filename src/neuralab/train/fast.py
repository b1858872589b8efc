"""The fast CIFAR recipe (for `fastnet`): everything that buys accuracy per second, in one short loop.

Compared with the general Trainer, it
- normalizes the whole training set once and keeps it on the device (channels-last),
- fits the patch-whitening layer from training images before step one,
- uses *alternating* flips: a random half of the images is mirrored in even epochs and the other half in odd
  ones, so every image is seen both ways every two epochs (less variance than independent coin flips),
- translates by up to 2 px, trains with Nesterov SGD (BN shifts at a 64x learning rate), label smoothing 0.2,
  a warm-up / linear warm-down schedule, and *lookahead*: every 5 steps the weights are pulled towards a slow
  moving average, whose pull grows towards the end of training,
- evaluates with test-time augmentation (the mean of the image's and its mirror's logits, optionally shifted).

`full_train` folds the validation images into training, as airbench does (its 94.0% is for all 50,000 CIFAR-10
training images); the test set stays untouched and is used once, at the end.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from neuralab.config import option, to_dict
from neuralab.data.augment import translate
from neuralab.data.base import Dataset
from neuralab.models.fastnet import PatchWhitening
from neuralab.runs import Run
from neuralab.train.checkpoint import save_model


@dataclass
class FastConfig:
    epochs: float = option(10.0, "epochs (fractional allowed)")
    batch_size: int = option(1024, "batch size")
    lr: float = option(11.5, "learning rate per 1024 examples (Nesterov SGD, decoupled scale)")
    momentum: float = option(0.85, "momentum")
    weight_decay: float = option(0.0153, "weight decay per 1024 examples")
    bias_scale: float = option(64.0, "learning-rate multiplier for BatchNorm shifts")
    label_smoothing: float = option(0.2, "label smoothing")
    translate: int = option(2, "random translation in pixels")
    tta: int = option(2, "test-time augmentation: 0 none, 1 mirror, 2 mirror + 1-px shifts")
    full_train: bool = option(False, "train on training + validation images (airbench's protocol: all 50,000 "
                              "CIFAR-10 training images) and skip the per-epoch validation pass")
    seed: int = option(0, "random seed")


def _normalize(x: Any, data: Dataset, device: torch.device) -> torch.Tensor:
    mean = torch.tensor(data.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(data.std, device=device).view(1, -1, 1, 1)
    out = (torch.from_numpy(x).to(device).float() / 255 - mean) / std
    return out.contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def predict_tta(model: nn.Module, x: torch.Tensor, level: int, batch: int = 1000) -> torch.Tensor:
    model.eval()
    out = []
    for xb in x.split(batch):
        logits = model(xb)
        if level >= 1:
            logits = 0.5 * logits + 0.5 * model(xb.flip(-1))
        if level >= 2:
            padded = F.pad(xb, (1, 1, 1, 1), mode="reflect")
            shifted = [padded[..., :-2, :-2], padded[..., 2:, 2:]]
            logits = 0.5 * logits + 0.25 * sum(0.5 * model(s) + 0.5 * model(s.flip(-1)) for s in shifted)
        out.append(logits.float())
    return torch.cat(out)


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return (logits.argmax(1) == y).float().mean().item()


def train_fast(model: nn.Module, data: Dataset, cfg: FastConfig, run: Run, device: torch.device,
               log: Callable[[str], None] = print) -> dict[str, Any]:
    g = torch.Generator(device="cpu").manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    model = model.to(device).to(memory_format=torch.channels_last)
    train = data.train.concat(data.val) if cfg.full_train else data.train
    x = _normalize(train.x, data, device)
    y = torch.from_numpy(train.y).to(device)
    if not cfg.full_train:  # with full_train the validation images are already in x: no second copy
        xv, yv = _normalize(data.val.x, data, device), torch.from_numpy(data.val.y).to(device)
    whiten = next(m for m in model.modules() if isinstance(m, PatchWhitening))
    whiten.fit(x[:5000])

    steps_per_epoch = math.ceil(len(x) / cfg.batch_size)
    total = math.ceil(steps_per_epoch * cfg.epochs)
    kilostep = 1024 * (1 + 1 / (1 - cfg.momentum))
    lr, wd = cfg.lr / kilostep, cfg.weight_decay * cfg.batch_size / kilostep
    shifts = [p for n, p in model.named_parameters() if "norm" in n and p.requires_grad]
    others = [p for n, p in model.named_parameters() if "norm" not in n and p.requires_grad]
    opt = torch.optim.SGD([{"params": shifts, "lr": lr * cfg.bias_scale, "weight_decay": wd / (lr * cfg.bias_scale)},
                           {"params": others, "lr": lr, "weight_decay": wd / lr}], momentum=cfg.momentum, nesterov=True)
    warm = int(0.23 * total)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.2 + 0.8 * s / warm if s < warm else
                                              1.0 - 0.93 * (s - warm) / max(1, total - warm))
    slow = {k: v.detach().clone() for k, v in model.state_dict().items()}
    flip_mask = torch.rand(len(x), generator=g).to(device) < 0.5
    step, epoch, start = 0, 0, time.perf_counter()
    run.write_config({"command": "train-fast", "config": to_dict(cfg), "data": data.describe()})
    while step < total:
        epoch += 1
        t0 = time.perf_counter()
        model.train()
        flip = flip_mask ^ bool(epoch % 2 == 0)
        images = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        order = torch.randperm(len(x), generator=g).to(device)
        loss_sum = correct = seen = 0.0
        for i in range(steps_per_epoch):
            if step >= total:
                break
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            xb = translate(images[idx], g, cfg.translate) if cfg.translate else images[idx]
            out = model(xb.contiguous(memory_format=torch.channels_last))
            loss = F.cross_entropy(out, y[idx], label_smoothing=cfg.label_smoothing, reduction="sum")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 5 == 0 or step == total:  # lookahead: pull the weights towards their slow average
                decay = 0.95**5 * (step / total) ** 3 if step < total else 0.0
                with torch.no_grad():
                    for (k, s), v in zip(slow.items(), model.state_dict().values()):
                        if v.dtype.is_floating_point:
                            s.lerp_(v, 1 - decay)
                            v.copy_(s)
            loss_sum += loss.item()
            correct += (out.argmax(1) == y[idx]).sum().item()
            seen += len(idx)
        seconds = time.perf_counter() - t0
        run.log(epoch, "train", loss_sum / seen, {"accuracy": correct / seen}, lr=sched.get_last_lr()[1],
                seconds=seconds)
        if cfg.full_train:  # the validation images were trained on: no honest per-epoch check is left
            log(f"epoch {epoch}  train loss {loss_sum / seen:.4f}  ({seconds:.1f}s)")
            continue
        val_acc = _accuracy(predict_tta(model, xv, min(cfg.tta, 1)), yv)
        run.log(epoch, "val", None, {"accuracy": val_acc})
        log(f"epoch {epoch}  train loss {loss_sum / seen:.4f}  val accuracy {val_acc:.4f}  ({seconds:.1f}s)")
    train_seconds = time.perf_counter() - start
    xt, yt = _normalize(data.test.x, data, device), torch.from_numpy(data.test.y).to(device)
    test_acc = _accuracy(predict_tta(model, xt, cfg.tta), yt)
    meta = {"model": "fastnet", "model_args": {}, "input_shape": list(data.input_shape), "num_outputs":
            data.num_outputs, "task": "classification", "classes": data.classes, "mean": list(data.mean),
            "std": list(data.std), "input_scale": 255.0, "metrics": {"test_accuracy": test_acc}}
    save_model(run.checkpoints / "model.safetensors", model.to(memory_format=torch.contiguous_format), meta)
    summary = {"test": {"accuracy": test_acc}, "train_seconds": train_seconds, "epochs": cfg.epochs,
               "steps": total, "images_per_second": total * cfg.batch_size / train_seconds, "tta": cfg.tta,
               "train_images": len(x)}
    run.write_summary(summary)
    return summary
