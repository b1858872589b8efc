"""transfer-cifar: transfer learning that needs no download.

Pretrain a small ResNet on the 8 CIFAR-10 classes that are not cat or dog, then learn cat vs dog (images the
backbone never saw) three ways — feature extraction, fine-tuning, and from scratch — at several training-set sizes.
The question it answers: how much do pretrained features help when the target task has little data?
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralab.config import option
from neuralab.data import load_dataset
from neuralab.data.base import per_class_subset, select_classes
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.shared import strategy_report
from neuralab.models.backbones import spec_of
from neuralab.models.weights import preprocessing
from neuralab.train.pretrain import PretrainConfig, pretrain_on
from neuralab.train.transfer import STRATEGIES, TransferOptions, prepare, run_strategy


@dataclass
class TransferCifarConfig(ExperimentConfig):
    dataset: str = option("cifar10", "source and target dataset (CIFAR-10 or a copy in the same classes)")
    target: list[str] = option(["cat", "dog"], "target classes, held out from pretraining")
    pretrain_epochs: int = option(10, "epochs of pretraining on the other classes")
    epochs: int = option(12, "epochs per strategy on the target")
    sizes: list[int] = option([50, 200, 0], "training images per target class (0 = all)")
    weights: str = option("", "reuse this pretrained resnet_small (.safetensors) instead of pretraining")


@experiment("transfer-cifar", TransferCifarConfig,
            "pretrain on CIFAR-8, transfer to cat vs dog: feature extraction vs fine-tuning vs scratch",
            needs=("cifar10",), order=40,
            examples=["neuralab run transfer-cifar", "neuralab run transfer-cifar --quick",
                      "neuralab run transfer-cifar --sizes 200 --epochs 8"])
def transfer_cifar(cfg: TransferCifarConfig, ctx: Context) -> dict:
    data = load_dataset(cfg.dataset, ctx.settings)
    source = select_classes(data, [c for c in data.classes if c not in cfg.target])
    target = select_classes(data, list(cfg.target))
    pre_epochs, epochs, sizes = cfg.pretrain_epochs, cfg.epochs, list(cfg.sizes)
    if cfg.quick:
        source.train = per_class_subset(source.train, 1000, cfg.seed)
        pre_epochs, epochs, sizes = min(pre_epochs, 3), min(epochs, 6), [200]

    # 1. pretraining on the source classes (or a backbone pretrained earlier, e.g. by `neuralab pretrain`)
    if cfg.weights:
        from neuralab.models.weights import read_weights_file

        weights = cfg.weights
        _, meta = read_weights_file(Path(weights))
        summary_file = Path(weights).parent.parent / "summary.json"  # when the file sits in a run directory
        pre_summary = (json.loads(summary_file.read_text()) if summary_file.exists() else
                       {"test": {"accuracy": float("nan")}})
        pre_epochs = meta.get("epoch", "?")
    else:
        pcfg = PretrainConfig(dataset=cfg.dataset, exclude_classes=list(cfg.target), epochs=pre_epochs, seed=cfg.seed)
        pre_summary = pretrain_on(source, pcfg, ctx.run.child("pretrain"), ctx.settings, log=ctx.log)
        weights = pre_summary["weights"]
    ctx.log(f"[transfer-cifar] pretrained: {pre_summary['test']['accuracy']:.3f} test accuracy on "
            f"{len(source.classes)} classes -> {weights}")

    # 2. the three strategies at each training-set size
    opts = TransferOptions(backbone="resnet_small", weights=weights, epochs=epochs, head_epochs=1, lr=2e-3,
                           backbone_lr=0.3, batch_size=64, augment="flip,crop",
                           bn="train")  # same domain, same image size: the measured setting
    pre = preprocessing(spec_of("resnet_small"), weights)
    results = []
    for size in sizes:
        prepared = prepare(target, pre, per_class=size, seed=cfg.seed)
        for strategy in STRATEGIES:
            run = ctx.run.child(f"{strategy}-{size or 'all'}")
            summary, _ = run_strategy(strategy, prepared, opts, ctx.settings, run, seed=cfg.seed, log=ctx.log)
            results.append({"size": size or int(np.bincount(prepared.train.y).max()), "strategy": strategy,
                            "accuracy": summary["test"]["accuracy"], "seconds": summary["seconds"],
                            "trainable": summary["trainable_params"], "run": run.path.name})
    report, summary = strategy_report(ctx.run, results, title="transfer-cifar",
                                      intro=f"Backbone: resnet_small pretrained for {pre_epochs} epochs on "
                                            f"{len(source.train)} images of {', '.join(source.classes)} "
                                            f"({100 * pre_summary['test']['accuracy']:.1f}% test accuracy there). "
                                            f"Target: {' vs '.join(cfg.target)}, never seen in pretraining; test "
                                            f"set {len(target.test)} images. Data: {data.source}.")
    ctx.run.write_report(report)
    return {**summary, "pretrain": pre_summary["test"]}
