"""cats-dogs (mini-project 3): fine-tune a pretrained network to tell cats from dogs.

Oxford-IIIT Pet (species labels) by default, or any `imagefolder:PATH` with two class folders. The pretrained
weights' own preprocessing is used (resize, centre crop, mean/std), and the run ends with a whole-model checkpoint
that `neuralab predict` and `neuralab serve` take as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from neuralab.config import option
from neuralab.errors import ConfigError
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.experiments.shared import evaluate_images
from neuralab.report.markdown import table
from neuralab.train.transfer import STRATEGIES, TransferOptions, load_for_backbone, prepare, run_strategy


@dataclass
class CatsDogsConfig(ExperimentConfig, TransferOptions):
    dataset: str = option("pets-cats-dogs", "pets-cats-dogs, or imagefolder:PATH with a cat and a dog folder")
    strategy: str = option("fine-tune", f"one of {', '.join(STRATEGIES)}")
    per_class: int = option(0, "training images per class (0 = all)")


@experiment("cats-dogs", CatsDogsConfig, "mini-project 3: fine-tune a pretrained ResNet on cats vs dogs",
            needs=("pets-cats-dogs",), order=45, examples=[
                "neuralab run cats-dogs", "neuralab run cats-dogs --dataset imagefolder:~/cats_and_dogs_filtered",
                "neuralab run cats-dogs --backbone mobilenet_v2 --weights mnv2.pth --mean 0.5,0.5,0.5 "
                "--std 0.5,0.5,0.5"])
def cats_dogs(cfg: CatsDogsConfig, ctx: Context) -> dict:
    from neuralab.device import pick_device

    if cfg.strategy not in STRATEGIES:
        raise ConfigError(f"--strategy must be one of {list(STRATEGIES)}. Received: {cfg.strategy!r}")
    data, pre = load_for_backbone(cfg.dataset, ctx.settings, cfg)
    if data.num_classes != 2:
        raise ConfigError(f"cats-dogs needs exactly two classes; {cfg.dataset} has {data.classes} "
                          f"(use --classes cat,dog)")
    per_class = cfg.per_class or (100 if cfg.quick else 0)
    if cfg.quick:
        cfg.epochs, cfg.head_epochs = min(cfg.epochs, 1), min(cfg.head_epochs, 1)
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
        f"{[round(m, 3) for m in pre['mean']]}). Training took {summary['seconds']:.0f} s.",
        f"**Test accuracy {100 * ev['accuracy']:.2f}%** (error {100 * err:.2f}%, {ev['mistakes']} of "
        f"{len(prepared.test)} images wrong).",
        table(["class", "precision", "recall"], rows),
        "![confusion matrix](plots/confusion.png)",
        "![most confident mistakes](plots/mistakes.png)" if ev["mistakes"] else "No test image was misclassified.",
        f"The model is in `runs/{cfg.strategy}/checkpoints/model.safetensors`.",
    ])
    ctx.run.write_report(report + "\n")
    return {"test": {"accuracy": ev["accuracy"], "error": err}, "evaluation": ev, "train": summary,
            "headline": f"{100 * ev['accuracy']:.1f}% test accuracy ({cfg.backbone}, {cfg.strategy})"}
