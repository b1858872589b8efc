"""Tables, plots, evaluation and plain-words conclusions shared by several experiments (not an experiment)."""

from __future__ import annotations

from typing import Any

from neuralab.report.markdown import table
from neuralab.report.plots import plot_compare
from neuralab.runs import Run


def strategy_report(run: Run, results: list[dict[str, Any]], title: str, intro: str) -> tuple[str, dict[str, Any]]:
    """Accuracy/time table per (size, strategy), accuracy-vs-size plot, curves, and a generated conclusion."""
    sizes = sorted({r["size"] for r in results})
    strategies = list(dict.fromkeys(r["strategy"] for r in results))
    acc = {(r["size"], r["strategy"]): r["accuracy"] for r in results}
    rows = [[r["size"], r["strategy"], f"{100 * r['accuracy']:.1f}%", f"{r['seconds']:.1f}",
             f"{r['trainable']:,}"] for r in results]
    if len(sizes) > 1:
        run.save_figure(plot_compare({s: [100 * acc[(n, s)] for n in sizes] for s in strategies},
                                     "test accuracy (%)", "accuracy vs training-set size", x=sizes,
                                     xlabel="training images per class"), "accuracy_vs_size")
    mid = 200 if 200 in sizes else sizes[len(sizes) // 2]
    curves = {}
    for s in strategies:
        child = next((Run(run.path / "runs" / r["run"]) for r in results if r["size"] == mid and r["strategy"] == s), None)
        if child:
            curves[s] = [m["metrics"]["accuracy"] * 100 for m in child.metrics("val")]
    run.save_figure(plot_compare(curves, "validation accuracy (%)", f"learning curves, {mid} images per class"),
                    "learning_curves")
    lines = []
    summary: dict[str, Any] = {"results": results}
    for n in sizes:
        base = acc.get((n, "scratch"))
        if base is None:
            continue
        gains = {s: 100 * (acc[(n, s)] - base) for s in strategies if s != "scratch" and (n, s) in acc}
        best = max(gains, key=gains.get) if gains else None
        parts = ", ".join(f"{s} {g:+.1f} points" for s, g in gains.items())
        lines.append(f"- With {n} images per class, against scratch ({100 * base:.1f}%): {parts}"
                     + (f"; {best} is best." if best and gains[best] > 0 else "; pretraining did not help here."))
        summary[f"gain_{n}"] = gains
    small = [n for n in sizes if (n, "scratch") in acc]
    if len(small) > 1:
        lo, hi = small[0], small[-1]
        g_lo = max(acc[(lo, s)] - acc[(lo, "scratch")] for s in strategies if s != "scratch")
        g_hi = max(acc[(hi, s)] - acc[(hi, "scratch")] for s in strategies if s != "scratch")
        lines.append(f"- The advantage of pretrained features is {100 * g_lo:.1f} points at {lo} images per class and "
                     f"{100 * g_hi:.1f} at {hi}: " + ("it shrinks as data grows." if g_hi < g_lo else
                                                      "it does not shrink with more data here."))
    fe = [r for r in results if r["strategy"] == "feature-extraction"]
    ft = [r for r in results if r["strategy"] == "fine-tune"]
    if fe and ft:
        lines.append(f"- Feature extraction trained {fe[0]['trainable']:,} parameters in "
                     f"{sum(r['seconds'] for r in fe) / len(fe):.1f} s on average; fine-tuning "
                     f"{ft[0]['trainable']:,} in {sum(r['seconds'] for r in ft) / len(ft):.1f} s.")
    summary["headline"] = (f"{100 * max(acc[(mid, s)] for s in strategies):.1f}% test accuracy at {mid} images/class "
                           f"({max(strategies, key=lambda s: acc[(mid, s)])})")
    body = [f"# {title}", intro,
            table(["images per class", "strategy", "test accuracy", "seconds", "trainable parameters"], rows),
            "## Conclusion", "\n".join(lines)]
    if len(sizes) > 1:
        body.append("![accuracy vs size](plots/accuracy_vs_size.png)")
    body.append("![learning curves](plots/learning_curves.png)")
    return "\n\n".join(body) + "\n", summary


QUICK_EVAL = 2000  # quick mode validates and tests on this many random images (the full CIFAR test set is 10,000)


def quick_note(quick: bool) -> str:
    return f" Quick mode: validation and test on {QUICK_EVAL:,} random images each." if quick else ""


def confusion(y_true: Any, y_pred: Any, k: int) -> Any:
    import numpy as np

    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def evaluate_images(run: Run, model: Any, data: Any, device: Any, max_wrong: int = 16) -> dict[str, Any]:
    """Test accuracy, confusion matrix PNG and a grid of the most confidently misclassified test images."""
    import torch

    from neuralab.data.loader import BatchLoader, cpu_inference_batch, use_channels_last

    model.eval().to(device)
    shape = data.test.x.shape[1:]
    layout = torch.channels_last if use_channels_last(shape, device) else torch.contiguous_format
    model.to(memory_format=layout)
    loader = BatchLoader(data.test, cpu_inference_batch(128, shape, device), device=device, mean=data.mean,
                         std=data.std)
    with torch.no_grad():
        probs = torch.cat([torch.softmax(model(xb.contiguous(memory_format=layout)).float(), 1).cpu()
                           for xb, _ in loader]).numpy()
    return evaluate_probs(run, probs, data, max_wrong)


def evaluate_probs(run: Run, probs: Any, data: Any, max_wrong: int = 16) -> dict[str, Any]:
    """evaluate_images from test-set class probabilities (N, classes), whatever framework computed them."""
    import numpy as np

    from neuralab.report.plots import image_grid, plot_confusion

    pred, y = probs.argmax(1), data.test.y
    cm = confusion(y, pred, data.num_classes)
    run.save_figure(plot_confusion(cm, data.classes, "test confusion matrix"), "confusion")
    wrong = np.flatnonzero(pred != y)
    wrong = wrong[np.argsort(-probs[wrong, pred[wrong]])][:max_wrong]
    if len(wrong):
        labels = [f"true {data.classes[y[i]]}\npred {data.classes[pred[i]]} {probs[i, pred[i]]:.2f}" for i in wrong]
        run.save_figure(image_grid(data.test.x[wrong], labels, cols=8, title="most confident mistakes"),
                        "mistakes")
    recall = (cm.diagonal() / np.maximum(cm.sum(1), 1)).tolist()
    precision = (cm.diagonal() / np.maximum(cm.sum(0), 1)).tolist()
    return {"accuracy": float((pred == y).mean()), "confusion": cm.tolist(), "recall": recall,
            "precision": precision, "mistakes": int(len(np.flatnonzero(pred != y)))}


def train_curves(tcfg: Any, ctx: Any, name: str, report: bool = True) -> dict[str, Any]:
    """Train one TrainConfig as the child run `name`; its per-epoch curves, test accuracy and timing."""
    from neuralab.train import train

    run, summary, trainer = train(tcfg, ctx.settings, run=ctx.run.child(name), log=ctx.log, report=report)
    tr, va = run.metrics("train"), run.metrics("val")
    return {"test": summary["test"]["accuracy"], "params": summary["params"],
            "train_acc": [r["metrics"]["accuracy"] for r in tr], "val_acc": [r["metrics"]["accuracy"] for r in va],
            "train_loss": [r["loss"] for r in tr], "val_loss": [r["loss"] for r in va],
            "epoch_seconds": [r["seconds"] for r in tr],
            "sec_per_epoch": sum(r["seconds"] for r in tr) / max(1, len(tr)), "model": trainer.eval_model,
            "input_shape": trainer.data.input_shape}


def train_variants(variants: dict[str, Any], ctx: Any, seeds: int = 1) -> dict[str, list[dict[str, Any]]]:
    """Train every (name -> TrainConfig) variant for `seeds` seeds as child runs; per-epoch curves and finals."""
    import dataclasses

    out: dict[str, list[dict[str, Any]]] = {}
    for name, tcfg in variants.items():
        for s in range(seeds):
            cfg = dataclasses.replace(tcfg, seed=tcfg.seed + s)
            out.setdefault(name, []).append(train_curves(cfg, ctx, f"{name}-seed{cfg.seed}"))
    return out


def mean_std(values: Any) -> str:
    import numpy as np

    v = 100 * np.asarray(values, dtype=float)
    return f"{v.mean():.2f} ± {v.std():.2f}"
