"""transfer-compare: feature extraction vs fine-tuning vs scratch on your own image folder, at several
training-set sizes, with accuracy, CPU time, learning curves and a conclusion drawn from the numbers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuralab.config import option
from neuralab.errors import ConfigError
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.shared import strategy_report
from neuralab.train.transfer import (STRATEGIES, TransferOptions, load_for_backbone, prepare, resolve_pretrained,
                                     run_strategy)


@dataclass
class TransferCompareConfig(ExperimentConfig, TransferOptions):
    dataset: str = option("", "the custom dataset: imagefolder:PATH (required)")
    sizes: list[int] = option([50, 200, 0], "training images per class (0 = all)")
    strategies: list[str] = option(list(STRATEGIES), "strategies to compare")


@experiment("transfer-compare", TransferCompareConfig,
            "feature extraction vs fine-tuning vs scratch on a custom image folder, at several sizes",
            manual=True, order=46, examples=[
                "neuralab run transfer-compare --dataset imagefolder:~/photos",
                "neuralab run transfer-compare --dataset imagefolder:~/photos --backbone resnet_small "
                "--weights runs/X-pretrain-resnet_small/checkpoints/model.safetensors --sizes 50,200"])
def transfer_compare(cfg: TransferCompareConfig, ctx: Context) -> dict:
    if not cfg.dataset:
        raise ConfigError("transfer-compare needs --dataset imagefolder:PATH (your class-per-folder images)")
    unknown = [s for s in cfg.strategies if s not in STRATEGIES]
    if unknown:
        raise ConfigError(f"unknown strategies {unknown}. Known: {list(STRATEGIES)}")
    about_weights = resolve_pretrained(cfg, ctx.settings)  # ImageNet weights from the weights folder too
    ctx.log(f"[transfer-compare] {cfg.backbone}. {about_weights}")
    data, pre = load_for_backbone(cfg.dataset, ctx.settings, cfg)
    sizes = [200] if cfg.quick else list(cfg.sizes)
    if cfg.quick:
        cfg.epochs = min(cfg.epochs, 2)
    results = []
    for size in sizes:
        prepared = prepare(data, pre, per_class=size, seed=cfg.seed)
        for strategy in cfg.strategies:
            run = ctx.run.child(f"{strategy}-{size or 'all'}")
            summary, _ = run_strategy(strategy, prepared, cfg, ctx.settings, run, seed=cfg.seed, log=ctx.log)
            results.append({"size": size or int(np.bincount(prepared.train.y).max()), "strategy": strategy,
                            "accuracy": summary["test"]["accuracy"], "seconds": summary["seconds"],
                            "trainable": summary["trainable_params"], "run": run.path.name})
    report, summary = strategy_report(ctx.run, results, "transfer-compare",
                                      f"{cfg.backbone} (weights: {cfg.weights}) on {data.source}: classes "
                                      f"{data.classes}, {len(data.test)} test images at {pre['crop']} px. "
                                      f"{about_weights}")
    ctx.run.write_report(report)
    return summary
