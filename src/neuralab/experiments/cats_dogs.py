"""cats-dogs (mini-project 3): fine-tune a pretrained network to tell cats from dogs.

The data is Oxford-IIIT Pet (species labels) when present, else TensorFlow's cats_and_dogs_filtered, or any
`imagefolder:PATH` with two class folders. The network is an ImageNet ResNet-18 when its weights can be had, else
the first ImageNet checkpoint found in the weights folder (`--backbone auto`); the report says which. The weights'
own preprocessing is used (resize, centre crop, mean/std), and the run ends with a whole-model checkpoint that
`neuralab predict` and `neuralab serve` take as it is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from neuralab.config import Settings, option
from neuralab.data.base import per_class_subset
from neuralab.data.registry import unavailable
from neuralab.errors import ConfigError
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.shared import evaluate_images
from neuralab.report.markdown import table
from neuralab.models.weights import find_any_imagenet
from neuralab.train.transfer import (STRATEGIES, TransferOptions, load_for_backbone, prepare, resolve_pretrained,
                                     run_strategy)

DATASETS = ("pets-cats-dogs", "cats-dogs-filtered")  # `--dataset auto`: the first one present


@dataclass
class CatsDogsConfig(ExperimentConfig, TransferOptions):
    dataset: str = option("auto", f"auto (the first present of {', '.join(DATASETS)}), one of those, or "
                                  "imagefolder:PATH with a cat and a dog folder")
    backbone: str = option("auto", "auto (resnet18 when its ImageNet weights are here; else the first ImageNet "
                                   "checkpoint in the weights folder; else resnet18, downloaded), or a backbone name")
    strategy: str = option("fine-tune", f"one of {', '.join(STRATEGIES)}")
    per_class: int = option(0, "training images per class (0 = all)")


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


@experiment("cats-dogs", CatsDogsConfig, "mini-project 3: fine-tune an ImageNet network (ResNet-18 by default) on "
                                        "cats vs dogs",
            needs=("|".join(DATASETS),), ready=weights_here, order=45, examples=[
                "neuralab run cats-dogs", "neuralab run cats-dogs --dataset imagefolder:~/my-cats-and-dogs",
                "neuralab run cats-dogs --backbone mobilenet_v2 --weights mnv2.pth --mean 0.5,0.5,0.5 "
                "--std 0.5,0.5,0.5"])
def cats_dogs(cfg: CatsDogsConfig, ctx: Context) -> dict:
    from neuralab.device import pick_device

    if cfg.strategy not in STRATEGIES:
        raise ConfigError(f"--strategy must be one of {list(STRATEGIES)}. Received: {cfg.strategy!r}")
    cfg.dataset = pick_dataset(cfg.dataset, ctx.settings)
    about_weights = resolve_pretrained(cfg, ctx.settings)
    ctx.log(f"[cats-dogs] {cfg.dataset}, {cfg.backbone}. {about_weights}")
    data, pre = load_for_backbone(cfg.dataset, ctx.settings, cfg)
    if data.num_classes != 2:
        raise ConfigError(f"cats-dogs needs exactly two classes; {cfg.dataset} has {data.classes} "
                          f"(use --classes cat,dog)")
    per_class = cfg.per_class or (100 if cfg.quick else 0)
    if cfg.quick:  # a few dozen steps, enough for pretrained features to show, tested on 200 images per class
        cfg.epochs, cfg.head_epochs, cfg.batch_size = min(cfg.epochs, 1), 2, min(cfg.batch_size, 32)
        data = dataclasses.replace(data, test=per_class_subset(data.test, 200, cfg.seed))
    prepared = prepare(data, pre, per_class=per_class, seed=cfg.seed)
    run = ctx.run.child(cfg.strategy)
    summary, model = run_strategy(cfg.strategy, prepared, cfg, ctx.settings, run, seed=cfg.seed, log=ctx.log)
    ev = evaluate_images(ctx.run, model, prepared, pick_device(ctx.settings.device))
    err = 1 - ev["accuracy"]
    rows = [[c, f"{100 * p:.1f}%", f"{100 * r:.1f}%"] for c, p, r in zip(data.classes, ev["precision"], ev["recall"])]
    report = "\n\n".join([
        "# cats-dogs",
        f"{cfg.strategy} of {cfg.backbone} (weights: {cfg.weights}) on {data.source}: {len(prepared.train)} training "
        f"images, {len(prepared.test)} test images at {pre['crop']}x{pre['crop']} (resize {pre['resize']}, mean "
        f"{[round(m, 3) for m in pre['mean']]}). Training took {summary['seconds']:.0f} s. {about_weights}",
        f"**Test accuracy {100 * ev['accuracy']:.2f}%** (error {100 * err:.2f}%, {ev['mistakes']} of "
        f"{len(prepared.test)} images wrong).",
        table(["class", "precision", "recall"], rows),
        "![confusion matrix](plots/confusion.png)",
        "![most confident mistakes](plots/mistakes.png)" if ev["mistakes"] else "No test image was misclassified.",
        f"The model is in `runs/{cfg.strategy}/checkpoints/model.safetensors`.",
    ])
    ctx.run.write_report(report + "\n")
    return {"test": {"accuracy": ev["accuracy"], "error": err}, "evaluation": ev, "train": summary,
            "resolved": {"dataset": cfg.dataset, "backbone": cfg.backbone, "weights": cfg.weights,
                         "mean": pre["mean"], "std": pre["std"]},
            "headline": f"{100 * ev['accuracy']:.1f}% test accuracy ({cfg.backbone}, {cfg.strategy})"}
