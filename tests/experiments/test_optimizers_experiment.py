import json

import numpy as np
import pytest

from neuralab.cli import main
from neuralab.errors import ConfigError
from neuralab.experiments import run_experiment
from neuralab.experiments.optimizers import BASE_LR, LrRuns, OptimizersConfig, OptimizersResult, render
from neuralab.experiments.registry import effective
from neuralab.experiments.sweep import Trial
from neuralab.experiments.timing import Contention
from neuralab.report.plots import plt


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")  # render draws figures that only write_page would close


def test_optimizers_quick_on_digits(settings, tmp_path):
    cfg = OptimizersConfig.of(dataset="digits", optimizers=["sgd", "adam"], seeds=2, quick=True)
    run, page = run_experiment("optimizers", cfg, settings, log=lambda m: None)
    summary = json.loads((run.path / "summary.json").read_text())
    assert summary["seeds"] == [0, 1] and summary["epochs"] == 2
    res = summary["results"]
    for opt in ("sgd", "adam"):
        swept = {float(lr) for lr in res[opt]["sweep"]}
        assert swept == {float(f"{BASE_LR[opt] * f:.6g}") for f in (0.3, 1.0, 3.0)}
        # The chosen learning rate is the one with the best mean validation accuracy.
        best = max(res[opt]["sweep"].items(), key=lambda kv: kv[1]["val_mean"])
        assert float(best[0]) == res[opt]["best_lr"]
        assert 0 <= res[opt]["test_std"] < res[opt]["test_mean"] <= 1
    leader = summary["leader"]
    assert leader == max(res, key=lambda o: res[o]["test_mean"]) == summary["ranking"][0]
    report = (run.path / "report.md").read_text()
    assert "Quick tour" in report and "## Config that ran" in report and '"seeds": 2' in report
    assert ("Best: **" in report) or ("No measurable difference in test accuracy between" in report)
    assert "± " in report and "(2 seeds)" in report
    pngs = ["train_loss_epoch", "val_accuracy_epoch", "lr_sweep"]
    pngs += ["train_loss_time", "val_accuracy_time"] if summary["timing_measured"] else []
    for png in pngs:
        assert (run.path / "plots" / f"{png}.png").stat().st_size > 0, png
        assert f"](plots/{png}.png)" in report
    children = sorted(p.name for p in (run.path / "runs").iterdir())
    assert len(children) == 2 * 3 * 2 and "adam-lr0.001-seed1" in children
    assert not (run.path / "runs" / "adam-lr0.001-seed1" / "report.md").exists()  # no per-child report: speed

    # The HTML page leads with the experiment's own findings, not one line per child run.
    assert main(["report", str(run.path), "--out", str(tmp_path / "site")]) == 0
    html = (tmp_path / "site" / "optimizers" / "index.html").read_text()
    assert "Every optimizer reached" in html and "seed0: Validation" not in html
    assert 'src="plots/val_accuracy_epoch.png"' in html


def test_a_diverging_learning_rate_is_recorded_not_chosen(settings):
    cfg = OptimizersConfig.of(dataset="digits", optimizers=["sgd"], lr_factors=[1.0, 1e4], seeds=1, quick=True)
    run, page = run_experiment("optimizers", cfg, settings, log=lambda m: None)
    sweep = page.details["results"]["sgd"]["sweep"]
    assert sweep["1000"]["diverged"] == 1 and sweep["1000"]["val_mean"] is None
    assert page.details["results"]["sgd"]["best_lr"] == 0.1
    assert "Diverged (loss became inf/NaN): sgd lr 1000 (1/1)" in (run.path / "report.md").read_text()


def test_quick_and_validation():
    quick = effective(OptimizersConfig.of(quick=True))
    assert (quick.optimizers, quick.lr_factors, quick.seeds, quick.schedule.epochs) == (
        ["sgd", "momentum", "adam", "rmsprop"], [0.3, 1.0, 3.0], 3, 2)
    assert quick.data.limit_train == 10000  # the data is not cut: quick runs must still learn
    with pytest.raises(ConfigError, match="--optimizers takes distinct names"):
        OptimizersConfig.of(optimizers=["adam", "lion"])
    with pytest.raises(ConfigError, match="lr_factors must be > 0"):
        OptimizersConfig.of(lr_factors=[0.0, 1.0])


# -- render on hand-built results ------------------------------------------------------------------------------
def trial(test: float, seed: int, epochs: int = 3, n: int = 2000) -> Trial:
    correct = np.zeros(n)
    correct[: int(round(test * n))] = 1
    val = [test - 0.02 * (epochs - e) for e in range(1, epochs + 1)]
    return Trial("x", seed, test, correct, 1000, epochs, 10_000 * epochs, val, val, [1.0 / e for e in
                                                                                     range(1, epochs + 1)],
                 [1.0] * epochs, [2.0] * epochs)


def result(tests: dict[str, list[float]], epochs: int = 3, busy: bool = False) -> OptimizersResult:
    cfg = OptimizersConfig.of(optimizers=list(tests), lr_factors=[1.0, 3.0], seeds=len(next(iter(tests.values()))))
    sweeps = {o: [LrRuns(o, BASE_LR[o], [trial(v, s, epochs) for s, v in enumerate(vs)], 0),
                  LrRuns(o, 3 * BASE_LR[o], [trial(v - 0.1, s, epochs) for s, v in enumerate(vs)], 0)]
              for o, vs in tests.items()}
    return OptimizersResult(cfg, list(range(len(next(iter(tests.values()))))), sweeps, 10_000,
                            Contention(10.0, 5.0 if busy else 0.0))


def test_render_a_lead_inside_the_noise_is_a_tie():
    page = render(result({"adam": [0.770, 0.765, 0.773], "sgd": [0.768, 0.771, 0.766]}))
    md = page.markdown()
    assert page.headline == "no measurable difference at the top: adam 76.93 ± 0.40% vs sgd 76.83 ± 0.25% test " \
                            "accuracy (fashion-mnist, 3 seeds)"
    assert "No measurable difference in test accuracy between adam and sgd" in md and "wins" not in md
    assert page.details["winner"] is None and page.details["leader"] == "adam"


def test_render_a_clear_win_names_the_winner():
    page = render(result({"adam": [0.90, 0.91, 0.905], "sgd": [0.80, 0.81, 0.805], "momentum": [0.85, 0.86, 0.855]}))
    md = page.markdown()
    assert page.headline == "adam best: 90.50 ± 0.50% test accuracy (fashion-mnist, 3 seeds; 5.00 points ahead " \
                            "of momentum)"
    assert "Best: **adam**. adam beats momentum on test accuracy by 5.00 points" in md
    assert "Top against bottom: adam beats sgd" in md
    assert page.details["winner"] == "adam" and page.test == {"accuracy": pytest.approx(0.905)}
    assert {"train_loss_epoch", "val_accuracy_epoch", "train_loss_time", "val_accuracy_time", "lr_sweep"} <= \
        set(page.figures)


def test_render_one_seed_one_epoch_and_a_busy_machine():
    page = render(result({"adam": [0.9], "sgd": [0.8]}, epochs=1, busy=True))
    md = page.markdown()
    assert "±" not in md and "90.00 (one seed)" in md
    assert page.headline == "adam best: 90.00% test accuracy (fashion-mnist, one seed; 10.00 points ahead of sgd)"
    assert set(page.figures) == {"lr_sweep"}  # no curve from a single epoch, no seconds from a busy machine
    assert "Timing not measured" in md and "s / epoch" not in md
    assert "adam beats sgd on test accuracy by 10.00 points" in md and "paired bootstrap" in md
