"""cats-dogs (mini-project 3): fine-tune a pretrained network to tell cats from dogs.

The data is Oxford-IIIT Pet (species labels) when present, else TensorFlow's cats_and_dogs_filtered, or any
`imagefolder:PATH` with two class folders. The network is an ImageNet ResNet-18 when its weights can be had, else
the first ImageNet checkpoint found in the weights folder (`--backbone auto`); the page's title says which ran. The
weights' own preprocessing is used (resize, centre crop, mean/std), and the run ends with a whole-model checkpoint
that `neuralab predict` and `neuralab serve` take as it is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from neuralab.config import Settings, option, section
from neuralab.data.base import per_class_subset
from neuralab.data.preprocess import Preprocess
from neuralab.data.registry import unavailable
from neuralab.errors import ConfigError
from neuralab.experiments.evaluation import ClassEval, class_sentence, evaluate_probs, show_evaluation
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.timing import Contention, CpuWatch
from neuralab.experiments.transfer_report import StrategyRun, check_auto, check_data, epochs_text, resolve, strategy_run
from neuralab.models.weights import find_any_imagenet
from neuralab.records import EpochRow
from neuralab.report.markdown import table
from neuralab.report.page import Page
from neuralab.train.transfer import (STRATEGIES, Strategy, TransferOptions, load_for_backbone, prepare,
                                     run_strategy)

DATASETS = ("pets-cats-dogs", "cats-dogs-filtered")  # `--dataset auto`: the first one present


@dataclass
class CatsDogsConfig(ExperimentConfig):
    dataset: str = option("auto", f"auto (the first present of {', '.join(DATASETS)}), one of those, or "
                                  "imagefolder:PATH with a cat and a dog folder")
    # --backbone auto: resnet18 when its ImageNet weights are here; else the first ImageNet checkpoint in the weights
    # folder; else resnet18, downloaded
    transfer: TransferOptions = section(TransferOptions(backbone="auto"))
    strategy: Strategy = option("fine-tune", f"one of {', '.join(STRATEGIES)}")
    per_class: int = option(0, "training images per class (0 = all)", min=0)
    test_per_class: int = option(0, "test images per class (0 = all)", min=0)
    # Quick: 100 photos per class, a 2-epoch head warm-up and 1 epoch of fine-tuning in batches of 32, tested on 200
    # photos per class: a few dozen steps, enough for pretrained features to show.
    QUICK: ClassVar[dict[str, Any]] = {"per_class": 100, "test_per_class": 200, "transfer.epochs": 1,
                                       "transfer.head_epochs": 2, "transfer.batch_size": 32}

    def __post_init__(self) -> None:
        super().__post_init__()
        check_auto(self.transfer)


@dataclass(frozen=True)
class CatsDogsResult:
    cfg: CatsDogsConfig
    dataset: str  # as resolved from --dataset auto
    opts: TransferOptions  # as resolved from --backbone auto
    about_weights: str
    source: str
    pre: Preprocess
    outcome: StrategyRun
    evaluation: ClassEval
    rows: list[EpochRow]  # the main training stage's metrics.jsonl
    contention: Contention  # whether other programs competed for the CPUs (then no seconds are shown)


def pick_dataset(name: str, settings: Settings) -> str:
    if name != "auto":
        return name
    return next((d for d in DATASETS if not unavailable(d, settings)), DATASETS[0])


def weights_here(settings: Settings) -> str:
    """`run all` fine-tunes only from weights already on this machine (as it reads only data already here)."""
    if find_any_imagenet(settings.weights_dir):
        return ""
    return (f"no ImageNet weights here: place torchvision's resnet18-f37072fd.pth in {settings.weights_dir}/ "
            f"(--weights-dir, $NEURALAB_WEIGHTS) or in torch's cache")


def _epoch_table(rows: list[EpochRow]) -> str:
    pairs = [(t, v) for t in rows if t.split == "train" for v in rows if v.split == "val" and v.epoch == t.epoch]
    return table(["epoch", "train accuracy", "validation accuracy"],
                 [[t.epoch, f"{100 * t.metric('accuracy'):.1f}%", f"{100 * v.metric('accuracy'):.1f}%"]
                  for t, v in pairs])


def render(r: CatsDogsResult) -> Page:
    ev, o, pre, strategy = r.evaluation, r.outcome, r.pre, r.cfg.strategy
    wrong, n_test = int(ev.confusion.sum() - ev.confusion.trace()), int(ev.confusion.sum())
    page = Page(f"cats-dogs: {strategy} of {r.opts.backbone}",
                f"{100 * ev.accuracy:.1f}% cat-vs-dog test accuracy ({r.opts.backbone}, {strategy}, "
                f"{o.train_images:,} training images)", test={"accuracy": ev.accuracy, "error": 1 - ev.accuracy})
    page.add(f"{strategy} of {r.opts.backbone} (weights: {r.opts.weights}) on {r.dataset} ({r.source}): "
             f"{o.train_images:,} training images ({o.per_class} per class), {n_test:,} test images at "
             f"{pre.input_shape[-1]}x{pre.input_shape[-1]} (resize {pre.resize}, mean "
             f"{[round(m, 3) for m in pre.mean]}). {r.about_weights}",
             f"Training: {epochs_text(o)} epochs{' (head warm-up + fine-tuning)' if o.warmup_epochs else ''}, "
             f"{o.images_seen:,} images seen{f', {o.seconds:.0f} s' if r.contention.quiet else ''}; "
             f"{o.trainable:,} parameters learned. {r.contention.note()}".strip(),
             f"**Test accuracy {100 * ev.accuracy:.2f}%** (error {100 * (1 - ev.accuracy):.2f}%, {wrong} of {n_test} "
             f"images wrong).",
             table(["class", "precision", "recall"],
                   [[c, f"{100 * p:.1f}%", f"{100 * q:.1f}%"] for c, p, q in zip(ev.classes, ev.precision, ev.recall)]),
             _epoch_table(r.rows), *show_evaluation(page, ev),
             "" if wrong else "No test image was misclassified.",
             f"The model is `runs/{strategy}/checkpoints/model.safetensors`, with the weights' preprocessing in its "
             f"card: `neuralab predict RUN/runs/{strategy} photo.jpg`.")
    page.findings.append(class_sentence(ev))
    page.details.update(evaluation=ev.to_json(), train_seconds=o.seconds, timing_measured=r.contention.quiet,
                        images_seen=o.images_seen,
                        resolved={"dataset": r.dataset, "backbone": r.opts.backbone, "weights": r.opts.weights,
                                  "mean": list(pre.mean), "std": list(pre.std)})
    return page


def check(cfg: CatsDogsConfig, settings: Settings) -> None:
    check_data(pick_dataset(cfg.dataset, settings), settings)
    resolve(cfg.transfer, settings)


@experiment("cats-dogs", CatsDogsConfig, "mini-project 3: fine-tune an ImageNet network (ResNet-18 by default) on "
                                        "cats vs dogs", render,
            needs=("|".join(DATASETS),), ready=weights_here, order=45, check=check, examples=[
                "neuralab run cats-dogs", "neuralab run cats-dogs --dataset imagefolder:~/my-cats-and-dogs",
                "neuralab run cats-dogs --backbone mobilenet_v2 --weights mnv2.pth --mean 0.5,0.5,0.5 "
                "--std 0.5,0.5,0.5"])
def measure(cfg: CatsDogsConfig, ctx: Context) -> CatsDogsResult:
    dataset = pick_dataset(cfg.dataset, ctx.settings)
    opts, about = resolve(cfg.transfer, ctx.settings)
    ctx.log(f"[cats-dogs] {dataset}, {opts.backbone}. {about}")
    data, pre = load_for_backbone(dataset, ctx.settings, opts)
    if data.num_classes != 2:
        raise ConfigError(f"cats-dogs needs exactly two classes; {dataset} has {data.classes} (use --classes cat,dog)")
    if cfg.test_per_class:
        data = dataclasses.replace(data, test=per_class_subset(data.test, cfg.test_per_class, cfg.seed))
    prepared, source = prepare(data, pre, per_class=cfg.per_class, seed=cfg.seed), data.source
    del data  # every decoded photo (quick: 1,800 training photos at 256 px, ~350 MB) is more than the subset needs
    run = ctx.run.child(cfg.strategy)
    with CpuWatch() as watch:
        outcome, _ = run_strategy(cfg.strategy, prepared, opts, ctx.settings, run, pre, seed=cfg.seed, log=ctx.log)
    probs = torch.softmax(torch.from_numpy(outcome.test_outputs), 1).numpy()
    per_class = int(np.bincount(prepared.train.y).max())
    return CatsDogsResult(cfg, dataset, opts, about, source, pre,
                          strategy_run(outcome, per_class, run, prepared.test.y), evaluate_probs(probs, prepared),
                          run.metrics(), watch.contention)
