"""housing: California housing prices (in $100k) with a NumPy MLP, against three baselines.

Features are standardized with statistics of the training split only. MLP candidates (widths) are compared on the
validation split; the chosen one and every baseline are then scored once on the held-out test split: a mean
predictor, linear regression (least squares), and scikit-learn's HistGradientBoostingRegressor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from neuralab.config import option
from neuralab.data import load_dataset
from neuralab.errors import ConfigError
from neuralab.experiments.registry import Context, ExperimentConfig, experiment
from neuralab.records import EpochRow
from neuralab.report.claims import Sample, compare
from neuralab.report.markdown import table
from neuralab.report.page import Page
from neuralab.report.plots import plot_compare, plot_curves, plt
from neuralab.scratch import MSE
from neuralab.scratch.fast import FastAdam, fast_mlp
from neuralab.scratch.train import Arrays, fit, prepare

TARGET_RMSE = 0.52  # the acceptance number for the NumPy MLP ($100k)
MEAN, LINEAR, TREES = ("mean of training targets", "linear regression (least squares)",
                       "HistGradientBoostingRegressor (sklearn defaults)")


@dataclass
class HousingConfig(ExperimentConfig):
    widths: list[str] = option(["64x64", "128x128", "128x128x128"], "MLP candidates, hidden widths joined by x")
    epochs: int = option(80, "maximum epochs per candidate (cosine learning-rate decay)", min=1, max=10_000)
    lr: float = option(2e-3, "Adam learning rate", above=0)
    batch_size: int = option(128, "mini-batch size", min=1, max=100_000)
    patience: int = option(15, "early stopping: epochs without a better validation loss", min=1)
    # Quick: the first candidate only, for 30 epochs (seconds): near the target, far ahead of linear regression.
    QUICK: ClassVar[dict[str, Any]] = {"widths": lambda widths: widths[:1], "epochs": 30}

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.widths or not all(part.isdigit() and int(part) > 0 for w in self.widths for part in w.split("x")):
            raise ConfigError(f"widths are positive integers joined by x, e.g. 128x128. Received: {self.widths}")


@dataclass(frozen=True)
class Candidate:
    """One MLP trained on the training split and scored on validation."""

    widths: str
    params: int
    rows: list[EpochRow]  # its metrics.jsonl
    best_epoch: int
    epochs_run: int
    stopped: str
    seconds: float
    val: dict[str, float]  # rmse, mae, r2 of the kept (best-validation) weights


@dataclass(frozen=True)
class Scores:
    val: dict[str, float]
    test: dict[str, float]
    test_pred: np.ndarray  # its prediction for every test district


@dataclass(frozen=True)
class HousingResult:
    cfg: HousingConfig
    source: str
    notes: list[str]
    sizes: tuple[int, int, int]  # train / val / test districts
    candidates: list[Candidate]
    chosen: str  # the candidate with the lowest validation RMSE
    scores: dict[str, Scores]  # every predictor (baselines, then the MLP), scored once on test
    y_test: np.ndarray

    @property
    def mlp(self) -> str:
        return f"NumPy MLP {self.chosen} (chosen on val)"


def regression_metrics(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R² = 1 - SS_res / SS_tot."""
    pred, y = np.asarray(pred, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    err = pred - y
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
            "r2": float(1 - np.sum(err**2) / np.sum((y - y.mean()) ** 2))}


def linear_fit(x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Least squares with a bias column: w = argmin ‖[x 1]·w - y‖²."""
    xb = np.c_[x.astype(np.float64), np.ones(len(x))]
    w, *_ = np.linalg.lstsq(xb, y.astype(np.float64).ravel(), rcond=None)
    return lambda z: np.c_[z.astype(np.float64), np.ones(len(z))] @ w


# -- render -------------------------------------------------------------------------------------------------------
def scatter_figure(pred: np.ndarray, y: np.ndarray, title: str) -> plt.Figure:
    pred, y = np.asarray(pred).ravel(), np.asarray(y).ravel()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].scatter(y, pred, s=3, alpha=0.3)
    lim = [min(y.min(), pred.min()), max(y.max(), pred.max())]
    axes[0].plot(lim, lim, "k--", lw=1, label="perfect")
    axes[0].set(xlabel="actual value ($100k)", ylabel="predicted ($100k)", title="predicted vs actual")
    axes[0].legend()
    axes[1].scatter(pred, pred - y, s=3, alpha=0.3)
    axes[1].axhline(0, color="k", lw=1)
    axes[1].set(xlabel="predicted ($100k)", ylabel="residual (predicted - actual)", title="residuals")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def squared_errors(r: HousingResult, name: str) -> Sample:
    """Minus the test squared error, per district (higher is better, as the claims expect), for a paired bootstrap
    over the same test districts: one trained model per side, so test-set noise is the noise there is."""
    sq = (np.asarray(r.scores[name].test_pred, np.float64).ravel() - np.asarray(r.y_test, np.float64).ravel()) ** 2
    return Sample.of([-sq.mean()], [-sq])


def findings(r: HousingResult) -> list[str]:
    m, lin = r.scores[r.mlp].test, r.scores[LINEAR].test
    rel = (m["rmse"] - lin["rmse"]) / lin["rmse"]
    lines = [f"The NumPy MLP's test RMSE is {m['rmse']:.3f} (MAE {m['mae']:.3f}, R² {m['r2']:.3f}), "
             f"{'within' if m['rmse'] <= TARGET_RMSE else 'above'} the {TARGET_RMSE} target; linear regression's "
             f"is {lin['rmse']:.3f}, so the MLP's is {abs(rel):.0%} {'lower' if rel < 0 else 'higher'}."]
    for base in (LINEAR, TREES):
        a, b = sorted((r.mlp, base), key=lambda n: r.scores[n].test["rmse"])  # the better one first: intervals > 0
        lines.append(compare(a, squared_errors(r, a), b, squared_errors(r, b))
                     .sentence("test mean squared error", scale=1.0, unit="($100k)²"))
    n = len(r.candidates)
    lines.append(f"Model selection used the validation split only ({n} MLP candidate{'s' if n > 1 else ''}); the test "
                 f"split was scored once per model, after selection.")
    return lines


def _figures(page: Page, r: HousingResult) -> list[str]:
    chosen = next(c for c in r.candidates if c.widths == r.chosen)
    mlp_fig = scatter_figure(r.scores[r.mlp].test_pred, r.y_test, f"NumPy MLP {r.chosen} on the test split")
    trees_fig = scatter_figure(r.scores[TREES].test_pred, r.y_test, "HistGradientBoosting on the test split")
    blocks = [page.figure("mlp_test", mlp_fig, "MLP test predictions"),
              page.figure("hgb_test", trees_fig, "boosted trees test predictions"),
              page.figure("curves", plot_curves(chosen.rows, f"chosen MLP {r.chosen}"), "chosen MLP curves")]
    if len(r.candidates) > 1:
        curves = {c.widths: [row.metric("rmse") for row in c.rows if row.split == "val"] for c in r.candidates}
        blocks.append(page.figure("candidates", plot_compare(curves, "validation RMSE ($100k)",
                                                             "MLP candidates on the validation split"),
                                  "validation RMSE of every candidate"))
    return blocks


def render(r: HousingResult) -> Page:
    cfg, m = r.cfg, r.scores[r.mlp].test
    page = Page("housing", f"test RMSE {m['rmse']:.3f} ($100k) for the NumPy MLP {r.chosen} (linear regression "
                           f"{r.scores[LINEAR].test['rmse']:.3f}, boosted trees {r.scores[TREES].test['rmse']:.3f})",
                test=dict(m))
    cand_rows = [[c.widths, f"{c.params:,}", c.epochs_run, c.best_epoch, c.stopped, c.val["rmse"], round(c.seconds, 1)]
                 for c in r.candidates]
    rows = [[name, s.val["rmse"], s.test["rmse"], s.test["mae"], s.test["r2"]] for name, s in r.scores.items()]
    page.add(__doc__.split("\n\n", 1)[1].strip(),
             f"Data: {r.source}; {r.sizes[0]:,} train / {r.sizes[1]:,} val / {r.sizes[2]:,} test districts."
             + (" " + " ".join(r.notes) if r.notes else ""),
             f"MLP training: Adam lr {cfg.lr} with cosine decay over {cfg.epochs} epochs, batch {cfg.batch_size}, "
             f"early stopping after {cfg.patience} epochs without a better validation loss; seed {cfg.seed}.",
             "## MLP candidates (validation)",
             table(["widths", "parameters", "epochs run", "best epoch", "stopped", "val RMSE", "seconds"], cand_rows),
             "## Chosen model vs baselines", table(["model", "val RMSE", "test RMSE", "test MAE", "test R²"], rows),
             *_figures(page, r))
    page.findings += findings(r)
    page.details.update(chosen=r.chosen, epochs=cfg.epochs, candidates={c.widths: c.val for c in r.candidates},
                        results={n: {"val": s.val, "test": s.test} for n, s in r.scores.items()}, mlp_test=m)
    return page


# -- measure ------------------------------------------------------------------------------------------------------
def train_candidate(cfg: HousingConfig, widths: str, data: dict[str, Arrays], ctx: Context) -> tuple[Candidate, Any]:
    """The longest training here, so it runs the fast version (fast_mlp + FastAdam: the same weights and numbers
    as the plain one, with reused buffers)."""
    model = fast_mlp(data["train"].x.shape[1], [int(v) for v in widths.split("x")], 1, seed=cfg.seed)
    run = ctx.run.child(f"mlp-{widths}")
    schedule = lambda e: cfg.lr * 0.5 * (1 + np.cos(np.pi * (e - 1) / cfg.epochs))  # noqa: E731
    hist = fit(model, data, MSE(), FastAdam(model, lr=cfg.lr), epochs=cfg.epochs, batch_size=cfg.batch_size,
               seed=cfg.seed, patience=cfg.patience, run=run, lr_schedule=schedule)
    model.save(run.checkpoints / "model")
    val = regression_metrics(model.predict(data["val"].x), data["val"].y)
    ctx.log(f"[housing] MLP {widths}: val RMSE {val['rmse']:.4f} (best epoch {hist.best_epoch})")
    rows = [EpochRow.from_json(row) for row in hist.rows]
    return Candidate(widths, model.num_params(), rows, hist.best_epoch, len(hist.curve("val")), hist.stopped,
                     hist.seconds, val), model


def baselines(train: Arrays, seed: int) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    from sklearn.ensemble import HistGradientBoostingRegressor  # scikit-learn's ensemble import is slow: only here

    mean_y = float(train.y.mean())
    return {MEAN: lambda z: np.full(len(z), mean_y), LINEAR: linear_fit(train.x, train.y),
            TREES: HistGradientBoostingRegressor(random_state=seed).fit(train.x, train.y.ravel()).predict}


@experiment("housing", HousingConfig, "NumPy MLP regression on California housing vs mean, linear and boosted trees",
            render, needs=("california-housing",), order=13,
            examples=["neuralab run housing", "neuralab run housing --widths 256x256 --epochs 120"])
def measure(cfg: HousingConfig, ctx: Context) -> HousingResult:
    ds = load_dataset("california-housing", ctx.settings)
    data = prepare(ds)  # standardized with the training split's mean/std
    trained = [train_candidate(cfg, w, data, ctx) for w in cfg.widths]
    candidate, model = min(trained, key=lambda t: t[0].val["rmse"])
    predictors = {**baselines(data["train"], cfg.seed), f"NumPy MLP {candidate.widths} (chosen on val)": model.predict}
    va, te = data["val"], data["test"]
    scores = {name: Scores(regression_metrics(predict(va.x), va.y), regression_metrics(pred, te.y), pred)
              for name, predict in predictors.items() for pred in [np.asarray(predict(te.x)).ravel()]}
    return HousingResult(cfg, ds.source, list(ds.notes), (len(data["train"]), len(va), len(te)),
                         [c for c, _ in trained], candidate.widths, scores, te.y.ravel())
