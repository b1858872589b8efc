"""The fast CIFAR recipe (made for `fastnet`, usable with any registered image model): everything that buys accuracy
per second, in one short loop.

Compared with the general Trainer, it
- normalizes the whole training set once and keeps it on the device (channels-last),
- fits the model's patch-whitening layer (if it has one) from training images before step one,
- uses *alternating* flips (`EpochBatches`): every image is seen both ways every two epochs (less variance than
  independent coin flips),
- translates by up to 2 px, trains with Nesterov SGD (BN shifts at a 64x learning rate), label smoothing 0.2,
  a warm-up / linear warm-down schedule, and *lookahead*: from epoch 4 on, every 5 steps the weights are pulled
  towards a slow moving average whose pull grows towards the end of training, and every epoch ends on the average,
- lets the whitening layer's bias learn for the first 3 epochs only,
- computes in bf16 where that is fast (CUDA, and CPUs with Intel AMX, where oneDNN's bf16 convolutions run ~4x
  faster than fp32), keeping weights, BN statistics and the loss in fp32; the training images are then held in
  bf16 too (half the memory of fp32),
- evaluates with test-time augmentation (the mean of the image's and its mirror's logits, optionally shifted).

`full_train` folds the validation images into training, as airbench does (its 94.0% is for all 50,000 CIFAR-10
training images); the test set stays untouched and is used once, at the end.

The defaults are tuned for fastnet, whose logits are scaled down by 9 and whose BN scales are frozen. Another net
needs its own learning rate and weight decay: the 8-layer residual `cnn` at lr 1.5 reached only 19.8% validation
accuracy after the first of two epochs, where the Trainer's plain Nesterov SGD recipe suits it (see the README).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from neuralab.config import Config, option, section, to_dict
from neuralab.data.augment import cutout, translate
from neuralab.data.base import Dataset
from neuralab.device import autocast, grad_scaler, resolve_precision
from neuralab.heap import retained_heap
from neuralab.models import create_model
from neuralab.models.checkpoint import save_model
from neuralab.models.fastnet import PatchWhitening
from neuralab.records import ModelCard, RunSummary
from neuralab.runs import Run
from neuralab.train.config import ModelConfig, Precision


@dataclass
class FastConfig(Config):
    model: ModelConfig = section(ModelConfig("fastnet"), prefix="model")
    epochs: float = option(10.0, "epochs (fractional allowed)", above=0, max=10_000)
    batch_size: int = option(1024, "batch size", min=1, max=1_000_000)
    lr: float = option(11.5, "learning rate per 1024 examples (Nesterov SGD, decoupled scale)", above=0)
    momentum: float = option(0.85, "momentum", min=0, max=0.999)
    weight_decay: float = option(0.0153, "weight decay per 1024 examples", min=0)
    bias_scale: float = option(64.0, "learning-rate multiplier for BatchNorm shifts", above=0)
    label_smoothing: float = option(0.2, "label smoothing", min=0, max=0.99)
    translate: int = option(2, "random translation in pixels", min=0, max=64)
    cutout: int = option(0, "side of a random square zeroed per image (0 = off; airbench96 uses 12 for long runs)",
                         min=0, max=512)
    tta: int = option(2, "test-time augmentation: 0 none, 1 mirror, 2 mirror + 1-px shifts", min=0, max=2)
    precision: Precision = option("auto", "compute dtype: auto (bf16 on CUDA and on CPUs with AMX, else float32), "
                                  "float32, bfloat16, float16 (GPU only)")
    lookahead_start: int = option(3, "epochs of plain SGD before the lookahead average starts", min=0)
    whiten_bias_epochs: int = option(3, "epochs the whitening layer's bias learns before it is frozen", min=0)
    full_train: bool = option(False, "train on training + validation images (airbench's protocol: all 50,000 "
                              "CIFAR-10 training images) and skip the per-epoch validation pass")


@dataclass(frozen=True)
class FastResult:
    test_accuracy: float
    train_seconds: float
    epochs: float
    steps: int
    images_per_second: float
    train_images: int
    images_seen: int
    tta: int
    precision: str
    curve: list[float]  # per epoch: validation accuracy (mirror TTA), or training accuracy with full_train

    def summary(self) -> RunSummary:
        return RunSummary(test={"accuracy": self.test_accuracy},
                          details={k: v for k, v in asdict(self).items() if k != "test_accuracy"})


def normalize(x: Any, data: Dataset, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    mean = torch.tensor(data.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(data.std, device=device).view(1, -1, 1, 1)
    out = torch.cat([((torch.from_numpy(c).to(device).float() / 255 - mean) / std).to(dtype)
                     for c in _chunks(x)])  # chunked: no full-size float32 intermediate when storing bf16
    return out.contiguous(memory_format=torch.channels_last)


def _chunks(x: Any, n: int = 5000) -> list[Any]:
    return [x[i:i + n] for i in range(0, len(x), n)]


class EpochBatches:
    """The recipe's training data, held on the device as one normalized tensor (in the compute dtype): each epoch
    mirrors it by the alternating-flip rule, shuffles it, and translates (and cuts out) each batch with tensor ops.

    Alternating flips: a random half of the images is mirrored in odd epochs and the other half in even ones, so
    every image is seen both ways every two epochs."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, g: torch.Generator, translate: int = 0,
                 cutout: int = 0):
        self.x, self.y, self.batch_size, self.g = x, y, batch_size, g
        self.translate, self.cutout = translate, cutout
        self.flip_mask = torch.rand(len(x), generator=g).to(x.device) < 0.5

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        flip = self.flip_mask ^ bool(epoch % 2 == 0)
        images = torch.where(flip.view(-1, 1, 1, 1), self.x.flip(-1), self.x)
        order = torch.randperm(len(self.x), generator=self.g).to(self.x.device)
        for idx in order.split(self.batch_size):
            xb = translate(images[idx], self.g, self.translate) if self.translate else images[idx]
            if self.cutout:
                xb = cutout(xb, self.g, self.cutout)
            yield xb.contiguous(memory_format=torch.channels_last), self.y[idx]


@torch.no_grad()
def _lookahead(slow: dict[str, torch.Tensor], model: nn.Module, decay: float) -> None:
    """slow <- decay * slow + (1 - decay) * weights, then weights <- slow (decay 1: jump back to the average)."""
    for s, v in zip(slow.values(), model.state_dict().values()):
        if v.dtype.is_floating_point:
            s.lerp_(v, 1 - decay)
            v.copy_(s)


@torch.no_grad()
def predict_tta(model: nn.Module, x: torch.Tensor, level: int, batch: int = 1000,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    model.eval()
    out = []
    for xb in x.split(batch):
        with autocast(xb.device, dtype=dtype):
            out.append(_tta_logits(model, xb, level))
    return torch.cat(out)


def _tta_logits(model: nn.Module, xb: torch.Tensor, level: int) -> torch.Tensor:
    """Level 0: the image; 1: mean with its mirror; 2: also the mirrored pair shifted 1 px up-left and down-right.
    Views are averaged in fp32 (bf16 logits keep ~3 digits: close classes could swap)."""
    def mirrored(v: torch.Tensor) -> torch.Tensor:
        return 0.5 * model(v).float() + 0.5 * model(v.flip(-1)).float() if level >= 1 else model(v).float()

    logits = mirrored(xb)
    if level >= 2:
        padded = F.pad(xb, (1, 1, 1, 1), mode="reflect")
        logits = 0.5 * logits + 0.25 * (mirrored(padded[..., :-2, :-2]) + mirrored(padded[..., 2:, 2:]))
    return logits


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return (logits.argmax(1) == y).float().mean().item()


class _Recipe:
    """The optimizer side of the recipe: Nesterov SGD with a 64x rate for BN shifts, warm-up then linear decay,
    lookahead from `lookahead_start` on; `epoch()` runs one pass and returns (loss sum, correct, examples)."""

    def __init__(self, model: nn.Module, cfg: FastConfig, total: int, dtype: torch.dtype, device: torch.device):
        self.model, self.cfg, self.total, self.dtype, self.device = model, cfg, total, dtype, device
        kilostep = 1024 * (1 + 1 / (1 - cfg.momentum))
        lr, wd = cfg.lr / kilostep, cfg.weight_decay * cfg.batch_size / kilostep
        shifts = [m.bias for m in model.modules() if isinstance(m, _BatchNorm) and m.bias is not None
                  and m.bias.requires_grad]
        others = [p for p in model.parameters() if p.requires_grad and all(p is not s for s in shifts)]
        self.opt = torch.optim.SGD([{"params": shifts, "lr": lr * cfg.bias_scale, "weight_decay": wd / (lr * cfg.bias_scale)},
                                    {"params": others, "lr": lr, "weight_decay": wd / lr}],
                                   momentum=cfg.momentum, nesterov=True)
        warm = int(0.23 * total)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: 0.2 + 0.8 * s / warm if s < warm else 1.0 - 0.93 * (s - warm) / max(1, total - warm))
        self.scaler = grad_scaler(device, dtype)  # fp16 only; a pass-through for bf16 and fp32
        self.slow: dict[str, torch.Tensor] | None = None  # the lookahead average, from epoch lookahead_start + 1 on
        self.step = 0

    def epoch(self, epoch: int, batches: EpochBatches) -> tuple[float, float, int]:
        cfg, model = self.cfg, self.model
        model.train()
        loss_sum = correct = seen = 0.0
        for xb, yb in batches.epoch(epoch):
            if self.step >= self.total:
                break
            with autocast(self.device, dtype=self.dtype):
                out = model(xb)
            loss = F.cross_entropy(out.float(), yb, label_smoothing=cfg.label_smoothing, reduction="sum")
            self.opt.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
            self.sched.step()
            self.step += 1
            if epoch > cfg.lookahead_start and self.step % 5 == 0:
                if self.slow is None:
                    self.slow = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:  # pull the weights towards their slow average, harder as training ends
                    _lookahead(self.slow, model, 0.95**5 * (self.step / self.total) ** 3)
            loss_sum += loss.item()
            correct += (out.argmax(1) == yb).sum().item()
            seen += len(yb)
        if self.slow is not None:
            _lookahead(self.slow, model, 1.0)  # every epoch ends on the average
        return loss_sum, correct, int(seen)


def train_fast(data: Dataset, cfg: FastConfig, run: Run, device: torch.device, seed: int = 0,
               log: Callable[[str], None] = print) -> FastResult:
    """Build `cfg.model` (seeded), train it with the recipe, test once with TTA, save it with its model card."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    torch.manual_seed(seed)
    dtype = resolve_precision(cfg.precision, device)
    model = create_model(cfg.model.name, data.input_shape, data.num_outputs, task="classification",
                         **cfg.model.kwargs).to(device).to(memory_format=torch.channels_last)
    train = data.train.concat(data.val) if cfg.full_train else data.train
    x, y = normalize(train.x, data, device, dtype), torch.from_numpy(train.y).to(device)
    if not cfg.full_train:  # with full_train the validation images are already in x: no second copy
        xv, yv = normalize(data.val.x, data, device, dtype), torch.from_numpy(data.val.y).to(device)
    whitens = [m for m in model.modules() if isinstance(m, PatchWhitening)]
    for whiten in whitens:
        whiten.fit(x[:5000].float())
    total = math.ceil(math.ceil(len(x) / cfg.batch_size) * cfg.epochs)
    recipe, batches = _Recipe(model, cfg, total, dtype, device), EpochBatches(x, y, cfg.batch_size, g, cfg.translate,
                                                                               cfg.cutout)
    run.write_config({"command": "train-fast", "config": to_dict(cfg), "seed": seed, "data": data.describe(),
                      "precision": str(dtype).removeprefix("torch.")})
    epoch, trained, curve, start = 0, 0, [], time.perf_counter()
    with retained_heap():  # each step, and the test pass, reuses the last step's memory (see neuralab.heap)
        while recipe.step < total:
            epoch += 1
            t0 = time.perf_counter()
            for whiten in whitens:  # gradient None from here on: SGD leaves the bias (and its momentum) alone
                whiten.bias.requires_grad_(epoch <= cfg.whiten_bias_epochs)
            loss_sum, correct, seen = recipe.epoch(epoch, batches)
            trained, seconds = trained + seen, time.perf_counter() - t0
            run.log(epoch, "train", loss_sum / seen, {"accuracy": correct / seen},
                    lr=recipe.sched.get_last_lr()[1], seconds=seconds)
            if cfg.full_train:  # the validation images were trained on: no honest per-epoch check is left
                curve.append(correct / seen)
                log(f"epoch {epoch}  train loss {loss_sum / seen:.4f}  ({seconds:.1f}s)")
                continue
            curve.append(_accuracy(predict_tta(model, xv, min(cfg.tta, 1), dtype=dtype), yv))
            run.log(epoch, "val", None, {"accuracy": curve[-1]})
            log(f"epoch {epoch}  train loss {loss_sum / seen:.4f}  val accuracy {curve[-1]:.4f}  ({seconds:.1f}s)")
        train_seconds = time.perf_counter() - start
        del batches, x
        xt, yt = normalize(data.test.x, data, device, dtype), torch.from_numpy(data.test.y).to(device)
        test_acc = _accuracy(predict_tta(model, xt, cfg.tta, dtype=dtype), yt)  # TTA batches as big as training's
    card = ModelCard.for_dataset(cfg.model.name, cfg.model.kwargs, data).with_metrics({"test_accuracy": test_acc})
    save_model(run.checkpoints / "model.safetensors", model.to(memory_format=torch.contiguous_format), card)
    result = FastResult(test_acc, train_seconds, cfg.epochs, total, trained / train_seconds, int(len(y)), trained,
                        cfg.tta, str(dtype).removeprefix("torch."), curve)
    run.write_summary(result.summary())
    return result
