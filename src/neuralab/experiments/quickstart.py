"""quickstart: the smallest end-to-end tour of the torch engine on data that ships with neuralab.

An MLP learns the two-moons points (with its decision boundary drawn) and scikit-learn's 8x8 digits; each is a
full training run (config, metrics, checkpoints, curves, report) nested in this experiment's run directory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from neuralab.config import option
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.report.markdown import table
from neuralab.report.plots import plot_decision_boundary
from neuralab.train import TrainConfig, train


@dataclass
class QuickstartConfig(ExperimentConfig):
    epochs: int = option(30, "epochs for each dataset")


@experiment("quickstart", QuickstartConfig, "PyTorch MLP on two moons (decision boundary) and on 8x8 digits",
            order=5, demo=True, examples=["neuralab run quickstart", "neuralab run quickstart --epochs 5"])
def quickstart(cfg: QuickstartConfig, ctx: Context) -> dict:
    epochs = min(cfg.epochs, 10) if cfg.quick else cfg.epochs
    jobs = {
        "moons": TrainConfig(dataset="moons", model_args="hidden=64,64", epochs=epochs, batch_size=64, lr=1e-2,
                             seed=cfg.seed),
        "digits": TrainConfig(dataset="digits", model_args="hidden=128", epochs=epochs, batch_size=64, lr=3e-3,
                              seed=cfg.seed),
    }
    rows, results = [], {}
    for name, tcfg in jobs.items():
        run, summary, trainer = train(tcfg, ctx.settings, run=ctx.run.child(name), log=ctx.log)
        results[name] = summary["test"]
        rows.append([name, summary["params"], summary["best_epoch"], summary["test"]["accuracy"],
                     summary["train_seconds"]])
        if name == "moons":
            data, model = trainer.data, trainer.eval_model.eval()
            mean, std = np.asarray(data.mean, np.float32), np.asarray(data.std, np.float32)

            def predict(points: np.ndarray) -> np.ndarray:
                with torch.no_grad():
                    return model(torch.from_numpy((points - mean) / std).to(trainer.device)).argmax(1).cpu().numpy()

            ctx.run.save_figure(plot_decision_boundary(predict, data.test.x, data.test.y, data.classes,
                                                       title="MLP on two moons (test points)"), "moons_boundary")
    report = "\n\n".join([
        "# quickstart", "A PyTorch MLP trained by neuralab's engine on two datasets that need no download.",
        table(["dataset", "parameters", "best epoch", "test accuracy", "train seconds"], rows),
        "![moons decision boundary](plots/moons_boundary.png)",
        "Each dataset's full run (curves, checkpoints) is under `runs/`.",
    ])
    ctx.run.write_report(report + "\n")
    return {"test": results}
