"""cifar-fast: the fastnet recipe on CIFAR-10 over several seeds — accuracy (mean ± std) and time per run.

`--model` runs the same recipe on another registered net (e.g. the configurable `cnn`), so a learner can see what
the recipe buys and what the architecture buys.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from neuralab.config import option
from neuralab.data.base import per_class_subset
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.shared import QUICK_EVAL, quick_note
from neuralab.report.markdown import table
from neuralab.report.plots import plot_compare


@dataclass
class CifarFastConfig(ExperimentConfig):
    dataset: str = option("cifar10", "CIFAR-10 or a copy with 32x32 images")
    model: str = option("fastnet", "model name (registered in neuralab.models)")
    model_args: str = option("", "model keyword arguments, e.g. 'depth=6 width=64 residual=true' for cnn")
    lr: float = option(11.5, "learning rate per 1024 examples: 11.5 suits fastnet (logits scaled by 1/9, BN scales "
                       "frozen); other nets need their own tuning (the recipe's weight decay and 64x BN-shift rate "
                       "assume fastnet's frozen-scale BN)")
    seeds: int = option(3, "independent runs")
    epochs: float = option(10.0, "epochs per run")
    tta: int = option(2, "test-time augmentation level (0, 1, 2)")
    precision: str = option("auto", "compute dtype: auto (bf16 on GPUs and on CPUs with Intel AMX), float32, "
                            "bfloat16, float16 (GPU only, with loss scaling)")
    full_train: bool = option(False, "train on training + validation images (airbench's protocol); the curves then "
                              "show training accuracy, as no held-out images are left")


@experiment("cifar-fast", CifarFastConfig, "fastnet (patch whitening, lookahead, TTA): CIFAR-10 accuracy per second",
            needs=("cifar10",), order=38, examples=["neuralab run cifar-fast", "neuralab run cifar-fast --seeds 1"])
def cifar_fast(cfg: CifarFastConfig, ctx: Context) -> dict:
    from neuralab.data import load_dataset
    from neuralab.device import pick_device
    from neuralab.train.fast import FastConfig, train_fast

    data = load_dataset(cfg.dataset, ctx.settings)
    seeds, epochs = (1, 1.0) if cfg.quick else (cfg.seeds, cfg.epochs)
    if cfg.quick:
        data = dataclasses.replace(data, train=per_class_subset(data.train, 500, cfg.seed),
                                   val=data.val.subset(QUICK_EVAL), test=data.test.subset(QUICK_EVAL))
    results = []
    for s in range(seeds):
        run = ctx.run.child(f"seed{cfg.seed + s}")
        fast = FastConfig(model=cfg.model, model_args=cfg.model_args, lr=cfg.lr, epochs=epochs, tta=cfg.tta,
                          seed=cfg.seed + s, full_train=cfg.full_train, precision=cfg.precision)
        summary = train_fast(data, fast, run, pick_device(ctx.settings.device), log=ctx.log)
        curve = run.metrics("train" if cfg.full_train else "val")
        results.append({**summary, "curve": [r["metrics"]["accuracy"] for r in curve]})
    acc = np.array([r["test"]["accuracy"] for r in results]) * 100
    secs = np.array([r["train_seconds"] for r in results])
    net = f"{cfg.model} ({cfg.model_args})" if cfg.model_args else cfg.model
    what = "training accuracy (%)" if cfg.full_train else "validation accuracy (%, mirror TTA)"
    ctx.run.save_figure(plot_compare({f"seed {cfg.seed + i}": [100 * v for v in r["curve"]]
                                      for i, r in enumerate(results)}, what, net), "curves")
    ctx.run.write_report("\n\n".join([
        "# cifar-fast", f"{net} on {data.source} ({results[0]['train_images']} training images), {epochs} epochs, TTA level "
        f"{cfg.tta}, learning rate {cfg.lr}, {seeds} seed(s), device {pick_device(ctx.settings.device)}, "
        f"{results[0]['precision']}.{quick_note(cfg.quick)}",
        table(["seed", "test accuracy %", "train seconds", "images/s"],
              [[cfg.seed + i, f"{100 * r['test']['accuracy']:.2f}", f"{r['train_seconds']:.0f}",
                f"{r['images_per_second']:.0f}"] for i, r in enumerate(results)]),
        f"**Mean test accuracy {acc.mean():.2f} ± {acc.std():.2f}%** in {secs.mean():.0f} s per run.",
        "![curves](plots/curves.png)"]) + "\n")
    return {"test": {"accuracy": float(acc.mean() / 100)}, "std": float(acc.std() / 100),
            "seconds": float(secs.mean()), "headline": f"{acc.mean():.2f}% mean test accuracy ({net})"}
