"""activations: the same deep NumPy MLP and budget with each activation function, over several seeds.

A deliberately deep, narrow network (several hidden layers) on the three-arm spiral, plain SGD with momentum, so
the activation is the only thing that changes. Measured per activation (mean ± std over seeds): final losses and
accuracies, the gradient norm of every layer's weights (vanishing gradients: with sigmoid or tanh the layers
nearest the input get a tiny share), and dead ReLUs (hidden units never active on any training point).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuralab.config import option
from neuralab.data import load_dataset
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.report.markdown import table
from neuralab.report.plots import plot_compare
from neuralab.scratch import SGD, Dense, SoftmaxCrossEntropy, mlp
from neuralab.scratch.activations import ACTIVATIONS
from neuralab.scratch.train import evaluate, fit, prepare


@dataclass
class ActivationsConfig(ExperimentConfig):
    activations: list[str] = option(["relu", "leaky_relu", "gelu", "tanh", "sigmoid"], "activations to compare")
    seeds: int = option(3, "seeds per activation (seed, seed+1, ...)")
    depth: int = option(6, "hidden layers")
    width: int = option(32, "units per hidden layer")
    epochs: int = option(60, "epochs per run")
    lr: float = option(0.05, "SGD learning rate")
    momentum: float = option(0.9, "SGD momentum")
    batch_size: int = option(32, "mini-batch size")


def grad_norms(model, loss, x, y) -> list[float]:
    """‖dL/dW‖ of every Dense layer, input side first, on one fixed batch."""
    loss.forward(model.forward(x, train=False), y)
    model.backward(loss.backward())
    return [float(np.linalg.norm(layer.grads["W"])) for layer in model.layers if isinstance(layer, Dense)]


def never_active(model, x) -> list[float]:
    """Per hidden layer: the fraction of units whose pre-activation is ≤ 0 for every point in x (a dead ReLU gets
    no gradient from any example, so it can never recover)."""
    fractions, h = [], np.asarray(x, dtype=model.dtype)
    for layer in model.layers:
        if isinstance(layer, Dense) and layer is not model.layers[-1]:
            h = layer.forward(h, train=False)
            fractions.append(float((~(h > 0).any(axis=0)).mean()))
        else:
            h = layer.forward(h, train=False)
    return fractions


def pm(values) -> str:
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.4g} ± {v.std():.2g}"


@experiment("activations", ActivationsConfig,
            "NumPy deep MLP with each activation: accuracy ± std over seeds, vanishing gradients, dead ReLUs",
            order=12, demo=True, examples=["neuralab run activations", "neuralab run activations --depth 10 --seeds 5"])
def activations(cfg: ActivationsConfig, ctx: Context) -> dict:
    for a in cfg.activations:
        if a not in ACTIVATIONS:
            raise ValueError(f"activations: unknown activation; choose from {sorted(ACTIVATIONS)}. Received: {a!r}")
    epochs = min(cfg.epochs, 10) if cfg.quick else cfg.epochs
    seeds = [cfg.seed + i for i in range(min(cfg.seeds, 2) if cfg.quick else cfg.seeds)]
    ds = load_dataset("spiral", ctx.settings)
    data = prepare(ds)
    probe_x, probe_y = data["train"].x[:256], data["train"].y[:256]
    loss = SoftmaxCrossEntropy()
    res: dict[str, dict[str, list]] = {}
    for act in cfg.activations:
        r = res[act] = {k: [] for k in ("train_loss", "val_loss", "val_acc", "test_acc", "norms_init",
                                        "norms_end", "dead_init", "dead_end", "val_curve", "diverged")}
        for seed in seeds:
            model = mlp(2, [cfg.width] * cfg.depth, ds.num_classes, activation=act, seed=seed)
            r["norms_init"].append(grad_norms(model, loss, probe_x, probe_y))
            r["dead_init"].append(never_active(model, data["train"].x))
            opt = SGD(model, lr=cfg.lr, momentum=cfg.momentum)
            with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is recorded, not warned about
                hist = fit(model, data, loss, opt, epochs=epochs, batch_size=cfg.batch_size, seed=seed,
                           run=ctx.run.child(f"{act}-seed{seed}"))
            r["norms_end"].append(grad_norms(model, loss, probe_x, probe_y))
            r["dead_end"].append(never_active(model, data["train"].x))
            r["train_loss"].append(evaluate(model, loss, data["train"])[0])  # the kept (best-validation) weights
            r["val_curve"].append(hist.curve("val") + [np.nan] * (epochs - len(hist.curve("val"))))
            r["diverged"].append(hist.stopped.startswith("diverged"))
            vl, vm = evaluate(model, loss, data["val"])
            r["val_loss"].append(vl)
            r["val_acc"].append(vm["accuracy"])
            r["test_acc"].append(evaluate(model, loss, data["test"])[1]["accuracy"])
        ctx.log(f"[activations] {act}: val accuracy {pm(r['val_acc'])}")

    # -- plots --------------------------------------------------------------------------------------------------
    curves = {a: np.nanmean(r["val_curve"], axis=0) for a, r in res.items()}
    bands = {a: np.nanstd(r["val_curve"], axis=0) for a, r in res.items()}
    ctx.run.save_figure(plot_compare(curves, "validation loss", f"{cfg.depth}x{cfg.width} MLP on spiral "
                                     f"(mean ± std, {len(seeds)} seeds)", bands=bands), "val_loss")
    layers = np.arange(1, cfg.depth + 2)
    for when in ("init", "end"):
        fig = plot_compare({a: np.mean(r[f"norms_{when}"], axis=0) for a, r in res.items()}, "‖dL/dW‖ (log scale)",
                           f"gradient norm per layer, {'at initialization' if when == 'init' else 'after training'}",
                           x=layers, xlabel="layer (1 = next to the input)")
        fig.axes[0].set_yscale("log")
        ctx.run.save_figure(fig, f"grad_norms_{when}")

    # -- table and conclusions from the numbers -----------------------------------------------------------------
    rows, summary = [], {}
    for a, r in res.items():
        init = np.mean(r["norms_init"], axis=0)
        ratio = float(init[0] / init[-1])
        dead_end = float(np.mean([np.mean(d) for d in r["dead_end"]]))
        dead_init = float(np.mean([np.mean(d) for d in r["dead_init"]]))
        summary[a] = {"val_accuracy_mean": float(np.mean(r["val_acc"])), "val_accuracy_std": float(np.std(r["val_acc"])),
                      "test_accuracy_mean": float(np.mean(r["test_acc"])), "test_accuracy_std": float(np.std(r["test_acc"])),
                      "train_loss_mean": float(np.mean(r["train_loss"])), "val_loss_mean": float(np.mean(r["val_loss"])),
                      "grad_ratio_first_last_init": ratio, "grad_norms_init": init.tolist(),
                      "never_active_init": dead_init, "never_active_end": dead_end,
                      "diverged_runs": int(sum(r["diverged"]))}
        gated = a in ("relu", "leaky_relu")  # units whose output (or slope) is cut where the input is ≤ 0
        rows.append([a, pm(r["train_loss"]), pm(r["val_loss"]), pm(r["val_acc"]), pm(r["test_acc"]),
                     f"{ratio:.2e}", f"{dead_init:.1%}" if gated else "—", f"{dead_end:.1%}" if gated else "—",
                     f"{sum(r['diverged'])}/{len(seeds)}"])
    ranked = sorted(summary, key=lambda a: -summary[a]["val_accuracy_mean"])
    best, worst = ranked[0], ranked[-1]
    smallest = min(summary, key=lambda a: summary[a]["grad_ratio_first_last_init"])
    lines = [
        f"Best mean validation accuracy: {best} ({summary[best]['val_accuracy_mean']:.1%} ± "
        f"{summary[best]['val_accuracy_std']:.1%}); worst: {worst} ({summary[worst]['val_accuracy_mean']:.1%} ± "
        f"{summary[worst]['val_accuracy_std']:.1%}), with chance at {1 / ds.num_classes:.1%}.",
        f"At initialization the first layer's gradient is {summary[smallest]['grad_ratio_first_last_init']:.1e} "
        f"times the last layer's with {smallest}, the smallest ratio measured "
        f"(" + ", ".join(f"{a} {s['grad_ratio_first_last_init']:.1e}" for a, s in summary.items()) + "): "
        + ("the vanishing-gradient picture — layers near the input barely learn."
           if summary[smallest]["grad_ratio_first_last_init"] < 0.1 else
           "no activation shows a first-layer gradient below a tenth of the last layer's at this depth."),
    ]
    diverged = {a: s["diverged_runs"] for a, s in summary.items() if s["diverged_runs"]}
    if diverged:
        lines.append("Runs whose loss became inf/NaN (training stopped there; the best weights before it are the ones "
                     "measured): " + ", ".join(f"{a} {n}/{len(seeds)}" for a, n in diverged.items()) + ".")
    for a in ("relu",):
        if a in summary:
            s = summary[a]
            lines.append(f"Dead ReLUs (units never active on any training point): {s['never_active_init']:.1%} at "
                         f"initialization, {s['never_active_end']:.1%} after training"
                         + (f"; leaky ReLU's never-positive fraction ends at {summary['leaky_relu']['never_active_end']:.1%}, "
                            f"but its units still pass a gradient (slope {0.01})" if "leaky_relu" in summary else "")
                         + ".")
    report = "\n\n".join([
        "# activations", __doc__.split("\n\n", 1)[1].strip(),
        f"Network 2-{'-'.join([str(cfg.width)] * cfg.depth)}-{ds.num_classes}; {epochs} epochs of SGD "
        f"(lr {cfg.lr}, momentum {cfg.momentum}, batch {cfg.batch_size}); seeds {seeds}; He init for ReLU-like "
        f"activations, Xavier for sigmoid/tanh.{' Quick mode.' if cfg.quick else ''}",
        table(["activation", "train loss", "val loss", "val accuracy", "test accuracy",
               "‖dW₁‖/‖dW_last‖ at init", "never-active units (init)", "never-active units (end)", "diverged"], rows),
        "Never-active: hidden units whose input is ≤ 0 on every training point (shown for ReLU and leaky ReLU, "
        "the activations for which that means a zero or tiny gradient).",
        "## What the numbers show", "\n".join(f"- {x}" for x in lines),
        "![validation loss](plots/val_loss.png)",
        "![gradient norms at init](plots/grad_norms_init.png) ![gradient norms after training](plots/grad_norms_end.png)",
    ])
    ctx.run.write_report(report + "\n")
    return {"epochs": epochs, "seeds": seeds, "results": summary}
