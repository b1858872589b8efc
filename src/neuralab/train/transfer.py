"""Transfer learning: one pretrained backbone, three strategies.

- feature-extraction: the backbone is frozen; its features are computed once (cached) and a linear head is trained
  on them, which takes seconds on a CPU.
- fine-tune: a short warm-up trains the new head alone (so random head gradients do not wreck pretrained
  features), then the last N stages (or all) train with discriminative learning rates: earlier stages, which hold
  more general features, move less. Batch-norm layers of frozen stages keep their pretrained statistics.
- scratch: the same architecture from random weights, the baseline the other two must beat.

Whatever the strategy, the run's `checkpoints/model.safetensors` is a whole image model (backbone + head), so
`neuralab predict RUN` and the server use it like any other.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neuralab.config import Config, Settings, option
from neuralab.data import load_dataset
from neuralab.data.base import Dataset, Split, center_crop, channel_stats, per_class_subset
from neuralab.data.images import load_cached, save_cached
from neuralab.data.loader import BatchLoader
from neuralab.data.preprocess import Preprocess
from neuralab.device import pick_device
from neuralab.errors import ConfigError
from neuralab.models import create_model
from neuralab.models.backbone_specs import BackboneSpec, get_module, set_module, spec_of
from neuralab.models.backbones import unwrap
from neuralab.models.checkpoint import save_model
from neuralab.models.weights import AUTO_BACKBONES, find_any_imagenet, find_imagenet, preprocessing
from neuralab.records import ModelCard, RunSummary
from neuralab.runs import Run
from neuralab.seed import seed_everything
from neuralab.train.config import TrainConfig
from neuralab.train.optim import build_schedule
from neuralab.train.result import TrainResult
from neuralab.train.trainer import Trainer

Strategy = Literal["feature-extraction", "fine-tune", "scratch"]
STRATEGIES: tuple[str, ...] = ("feature-extraction", "fine-tune", "scratch")
BN_MODES: tuple[str, ...] = ("frozen", "train")


@dataclass
class TransferOptions(Config):
    backbone: str = option("resnet18", "backbone: resnet18/34/50, mobilenet_v2, mobilenet_v3_small/large, "
                                       "efficientnet_b0, resnet_small")
    weights: str = option("imagenet", "'imagenet' (torchvision weights API), a .safetensors/.pth file, or 'none'")
    epochs: int = option(5, "training epochs (fine-tune: after the head warm-up)", min=1)
    head_epochs: int = option(1, "fine-tune: epochs training the new head alone before unfreezing", min=0)
    unfreeze: int = option(0, "fine-tune: unfreeze only the last N stages (0 = all)", min=0)
    lr: float = option(1e-3, "learning rate of the head (AdamW)", above=0)
    backbone_lr: float = option(0.1, "fine-tune: deepest stage's learning rate as a fraction of the head's; each "
                                     "earlier stage gets half of the next", above=0)
    batch_size: int = option(64, "batch size", min=1)
    augment: str = option("flip", "batch augmentation while training (not for feature extraction)")
    bn: Literal["frozen", "train"] = option("frozen", "fine-tune: batch-norm statistics 'frozen' (the pretrained running statistics) or "
                               "'train' (re-estimated from batches)")
    mean: list[float] = option([], "override the weights' normalization mean (e.g. 0.5,0.5,0.5)")
    std: list[float] = option([], "override the weights' normalization std")
    classes: list[str] = option([], "keep only these classes")


# -- data ---------------------------------------------------------------------------------------------------
def resize_images(x: np.ndarray, size: int, chunk: int = 512) -> np.ndarray:
    """Resize (N, C, H, W) uint8 images so the shorter side is `size` (bilinear, antialiased), then centre-crop."""
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    out = np.empty((len(x), x.shape[1], nh, nw), dtype=np.uint8)
    for i in range(0, len(x), chunk):
        t = torch.from_numpy(x[i:i + chunk]).float()
        out[i:i + chunk] = F.interpolate(t, size=(nh, nw), mode="bilinear", antialias=True,
                                         align_corners=False).round().clamp(0, 255).to(torch.uint8).numpy()
    return center_crop(out, size)


def prepare(data: Dataset, pre: Preprocess, per_class: int = 0, seed: int = 0) -> Dataset:
    """The weights' preprocessing applied once to the arrays: resize, centre crop, their mean/std."""
    crop = pre.input_shape[-1]
    resize = pre.resize or crop

    def fit(s: Split) -> Split:
        x = s.x
        if min(x.shape[-2:]) != resize:
            x = resize_images(x, resize)
        return Split(center_crop(x, crop), s.y)

    train = fit(per_class_subset(data.train, per_class, seed) if per_class else data.train)
    return dataclasses.replace(data, train=train, val=fit(data.val), test=fit(data.test), mean=pre.mean, std=pre.std)


def resolve_pretrained(opts: TransferOptions, settings: Settings) -> tuple[TransferOptions, str]:
    """`opts` pointed at ImageNet weights already on this machine, and a sentence for the report.

    `--backbone auto` is resnet18 when its ImageNet weights are here (torch's cache, or torchvision's file in the
    weights folder), else the first architecture of AUTO_BACKBONES with ImageNet weights in the weights folder, else
    resnet18 to be downloaded. A named backbone with `--weights imagenet` also finds torchvision's file there.
    """
    auto = opts.backbone == "auto"
    if opts.weights != "imagenet":
        if auto:
            raise ConfigError("--backbone auto chooses among ImageNet weights; with --weights "
                              f"{opts.weights!r} name the backbone (e.g. --backbone resnet18)")
        return opts, ""
    found = find_any_imagenet(settings.weights_dir) if auto else find_imagenet(opts.backbone, settings.weights_dir)
    if found is None:
        opts = opts.replace(backbone=AUTO_BACKBONES[0]) if auto else opts
        return opts, f"Pretrained weights: torchvision's ImageNet {opts.backbone} (weights API)."
    opts = opts.replace(backbone=found.backbone, weights=found.weights)
    if found.mean and not opts.mean:
        opts = opts.replace(mean=list(found.mean), std=list(found.std))
    return opts, f"Pretrained weights: {found.about}."


def load_for_backbone(name: str, settings: Settings, opts: TransferOptions) -> tuple[Dataset, Preprocess]:
    """The dataset, decoded at the size the weights want, and the weights' preprocessing (mean/std overridable)."""
    pre = preprocessing(spec_of(opts.backbone), opts.weights, tuple(opts.mean), tuple(opts.std))
    data = load_dataset(name, settings, task="classification", image_size=pre.resize or pre.input_shape[-1],
                        classes=list(opts.classes) or None)
    if not data.is_image:
        raise ConfigError(f"transfer learning needs an image dataset; {name} has inputs of shape {data.input_shape}")
    return data, pre


# -- freezing -----------------------------------------------------------------------------------------------
def _stage_of(name: str, spec: BackboneSpec) -> int | None:
    """Index of the stage a parameter belongs to, len(stages) for the head, None for anything else."""
    if name.startswith(spec.head + "."):
        return len(spec.stages)
    for i, prefix in enumerate(spec.stages):
        if name == prefix or name.startswith(prefix + "."):
            return i
    return None


def set_trainable(model: nn.Module, spec: BackboneSpec, strategy: str, unfreeze: int = 0,
                  bn: str = "train") -> tuple[int, int]:
    """requires_grad per strategy; returns (trainable, total) parameter counts.

    Batch norm of frozen stages always keeps its running statistics. bn="frozen" keeps them in trained stages too
    (their scale and shift still learn): on a few hundred images, batch statistics are noisy estimates that pull
    pretrained features away from what the next layer expects (Keras' fine-tuning guide advises the same), and
    checkpoints with batch norm folded into the convolutions have no statistics to re-estimate at all.
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}. Known: {list(STRATEGIES)}")
    n = len(spec.stages)
    first_trainable = {"feature-extraction": n, "scratch": 0,
                       "fine-tune": 0 if unfreeze <= 0 else max(0, n - unfreeze)}[strategy]
    trainable = total = 0
    for name, p in unwrap(model).named_parameters():
        stage = _stage_of(name, spec)
        # parameters outside the named stages (e.g. a final conv before pooling) train with the deepest stage
        p.requires_grad = (stage if stage is not None else n - 1) >= first_trainable
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    if bn not in BN_MODES:
        raise ConfigError(f"--bn must be one of {list(BN_MODES)}. Received: {bn!r}")
    _freeze_frozen_batchnorm(unwrap(model), every=bn == "frozen")
    return trainable, total


def _keep_eval(module: nn.Module, _inputs: Any) -> None:
    module.training = False


def _freeze_frozen_batchnorm(model: nn.Module, every: bool = False) -> None:
    """BN layers whose parameters are frozen (or every BN layer) use and keep their running statistics even in
    train mode."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            hooks = getattr(m, "_neuralab_eval_hook", None)
            if hooks is not None:
                hooks.remove()
                m._neuralab_eval_hook = None
            if every or (m.weight is not None and not m.weight.requires_grad):
                m._neuralab_eval_hook = m.register_forward_pre_hook(_keep_eval)


def param_groups(model: nn.Module, spec: BackboneSpec, lr: float, backbone_lr: float) -> list[dict[str, Any]]:
    """Discriminative learning rates: head `lr`, deepest stage `lr*backbone_lr`, each earlier stage half of the next."""
    n = len(spec.stages)
    groups: dict[int, list[nn.Parameter]] = {}
    for name, p in unwrap(model).named_parameters():
        if p.requires_grad:
            stage = _stage_of(name, spec)
            groups.setdefault(stage if stage is not None else n - 1, []).append(p)
    return [{"params": ps, "lr": lr if s == n else lr * backbone_lr * 0.5 ** (n - 1 - s), "stage": s}
            for s, ps in sorted(groups.items())]


# -- features -----------------------------------------------------------------------------------------------
def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=12)
    for a in arrays:
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


@torch.no_grad()
def extract_features(model: nn.Module, spec: BackboneSpec, data: Dataset, device: torch.device, cache_dir: Any,
                     weights_id: str, batch_size: int = 128, log: Callable[[str], None] = print) -> Dataset:
    """Backbone features (the head's input) for every split, computed once and cached by content."""
    body = unwrap(model)
    head = get_module(body, spec.head)
    set_module(body, spec.head, nn.Identity())
    model.eval().to(device)
    out = {}
    try:
        for split, s in data.splits().items():
            key = _digest(s.x[:: max(1, len(s.x) // 64)], s.x[-1:], s.y) + f"-{len(s)}"
            name = f"features-{spec.name}-{hashlib.blake2b(weights_id.encode(), digest_size=6).hexdigest()}"
            cached = load_cached(cache_dir, name, key)
            if cached is None:
                t0 = time.perf_counter()
                loader = BatchLoader(s, batch_size, device=device, mean=data.mean, std=data.std)
                feats = torch.cat([model(xb).float().cpu() for xb, _ in loader]).numpy()
                log(f"features for {len(s)} {split} images: {len(s) / (time.perf_counter() - t0):.1f} images/s")
                cached = {"x": feats}
                save_cached(cache_dir, name, key, **cached)
            out[split] = Split(cached["x"].astype(np.float32), s.y)
    finally:
        set_module(body, spec.head, head)
    mean, std = channel_stats(out["train"].x)
    return Dataset(data.name + ":features", "classification", out["train"], out["val"], out["test"],
                   classes=data.classes, mean=mean, std=std, source=f"{spec.name} features of {data.source}")


# -- the three strategies -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TransferOutcome:
    """One strategy's run: the Trainer's result (test metrics of the whole image model) and what it cost."""

    strategy: str
    result: TrainResult
    seconds: float  # feature extraction included
    trainable: int  # parameters that learned
    train_images: int
    # the test pass's logits, one row per test image in order (for paired comparisons and confusion matrices)
    test_outputs: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def accuracy(self) -> float:
        return self.result.test_metric("accuracy")

    def summary(self) -> RunSummary:
        s = self.result.summary()
        return replace(s, details={**s.details, "strategy": self.strategy, "seconds": self.seconds,
                                   "trainable_params": self.trainable, "train_images": self.train_images})


def _train_config(opts: TransferOptions, dataset: str, epochs: int, lr: float, seed: int, augment: str,
                  **flat: Any) -> TrainConfig:
    base = dict(dataset=dataset, model=opts.backbone, epochs=max(1, epochs), batch_size=opts.batch_size,
                optimizer="adamw", lr=lr, weight_decay=0.01, schedule="cosine", augment=augment, seed=seed,
                eval_batch_size=256)  # photo-sized inputs on a CPU: the Trainer takes 16
    return TrainConfig.of(**{**base, **flat})


def _feature_extraction(model: nn.Module, data: Dataset, opts: TransferOptions, settings: Settings, run: Run,
                        seed: int, device: torch.device,
                        log: Callable[[str], None]) -> tuple[TrainResult, int, torch.Tensor | None]:
    """Train a linear head on cached backbone features, then fold the feature standardization and the head into
    the backbone's own head: one image model to deploy."""
    spec = spec_of(opts.backbone)
    feats = extract_features(model, spec, data, device, settings.cache_dir, f"{opts.backbone}|{opts.weights}", log=log)
    head_model = create_model("mlp", feats.input_shape, data.num_outputs, hidden=[])
    cfg = _train_config(opts, data.name, opts.epochs * 4, opts.lr * 3, seed, "none", model="mlp", batch_size=256,
                        weight_decay=1e-3)
    trainer = Trainer(head_model, feats, cfg, run, device, log=log)
    result = trainer.fit()
    lin = trainer.eval_model[-1]
    mean, std = torch.tensor(feats.mean, dtype=torch.float32), torch.tensor(feats.std, dtype=torch.float32)
    head = get_module(unwrap(model), spec.head)
    with torch.no_grad():
        head.weight.copy_(lin.weight.cpu() / std)
        head.bias.copy_(lin.bias.cpu() - (lin.weight.cpu() * (mean / std)).sum(1))
    return result, sum(p.numel() for p in head_model.parameters()), trainer.test_outputs


def _fine_tune(strategy: str, model: nn.Module, data: Dataset, opts: TransferOptions, run: Run, seed: int,
               device: torch.device, pre: Preprocess,
               log: Callable[[str], None]) -> tuple[TrainResult, nn.Module, int, torch.Tensor | None]:
    """Fine-tune (after a head warm-up) or train from scratch, with the Trainer."""
    spec, extra = spec_of(opts.backbone), {"strategy": strategy, "pretrained_from": opts.weights}
    if strategy == "fine-tune" and opts.head_epochs > 0 and opts.weights != "none":
        set_trainable(model, spec, "feature-extraction")
        Trainer(model, data, _train_config(opts, data.name, opts.head_epochs, opts.lr, seed, opts.augment),
                run.child("head-warmup"), device, log=log, test=False, preprocess=pre, card_extra=extra).fit()
    bn = "train" if strategy == "scratch" else opts.bn  # from scratch there are no statistics to keep
    trainable, _ = set_trainable(model, spec, strategy, opts.unfreeze, bn=bn)
    cfg = _train_config(opts, data.name, opts.epochs, opts.lr, seed, opts.augment)
    trainer = Trainer(model, data, cfg, run, device, log=log, preprocess=pre, card_extra=extra)
    if strategy == "fine-tune":
        trainer.optimizer = torch.optim.AdamW(param_groups(model, spec, opts.lr, opts.backbone_lr),
                                              weight_decay=cfg.optim.weight_decay)
        trainer.schedule = build_schedule(cfg.schedule.schedule, trainer.optimizer,
                                          cfg.schedule.epochs * len(trainer.train_loader))
    result = trainer.fit()
    return result, trainer.eval_model, trainable, trainer.test_outputs


def run_strategy(strategy: str, data: Dataset, opts: TransferOptions, settings: Settings, run: Run,
                 pre: Preprocess, seed: int = 0, log: Callable[[str], None] = print) -> tuple[TransferOutcome, nn.Module]:
    """Train one strategy on prepared data (`pre`: the preprocessing it was prepared with); writes a complete run
    whose checkpoint is the whole image model, with a card that serves photos exactly as they were trained on."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}. Known: {list(STRATEGIES)}")
    device = pick_device(settings.device)
    opts = opts.replace(weights="none") if strategy == "scratch" else opts
    seed_everything(seed)
    model = create_model(opts.backbone, data.input_shape, data.num_outputs, pretrained=opts.weights)
    t0 = time.perf_counter()
    if strategy == "feature-extraction":
        result, trainable, outputs = _feature_extraction(model, data, opts, settings, run, seed, device, log)
    else:
        result, model, trainable, outputs = _fine_tune(strategy, model, data, opts, run, seed, device, pre, log)
    outcome = TransferOutcome(strategy, result, time.perf_counter() - t0, trainable, len(data.train),
                              None if outputs is None else outputs.float().numpy())
    # The checkpoint holds every weight: it is rebuilt with pretrained="none", never from the source file again.
    card = ModelCard.for_dataset(opts.backbone, {"pretrained": "none"}, data, data.name, pre, strategy=strategy,
                                 pretrained_from=opts.weights).with_metrics(result.test)
    save_model(run.checkpoints / "model.safetensors", model, card)
    run.write_summary(outcome.summary())
    return outcome, model
