import json

from neuralab.cli import main
from neuralab.experiments import run_experiment
from neuralab.experiments.optimizers import BASE_LR, OptimizersConfig


def test_optimizers_quick_on_digits(settings, tmp_path):
    cfg = OptimizersConfig(dataset="digits", optimizers=["sgd", "adam"], quick=True)
    run, summary = run_experiment("optimizers", cfg, settings, log=lambda m: None)
    assert summary["seeds"] == [0, 1] and summary["epochs"] == 2
    res = summary["results"]
    for opt in ("sgd", "adam"):
        swept = {float(lr) for lr in res[opt]["sweep"]}
        assert swept == {float(f"{BASE_LR[opt] * f:.6g}") for f in (0.3, 1.0, 3.0, 10.0)}
        # The chosen learning rate is the one with the best mean validation accuracy.
        best = max(res[opt]["sweep"].items(), key=lambda kv: kv[1]["val_mean"])
        assert float(best[0]) == res[opt]["best_lr"]
        assert 0 <= res[opt]["test_std"] < res[opt]["test_mean"] <= 1
    winner = summary["winner"]
    assert winner == max(res, key=lambda o: res[o]["test_mean"]) and summary["ranking"][0] == winner
    report = (run.path / "report.md").read_text()
    assert f"{winner} wins with {100 * res[winner]['test_mean']:.2f} ± {100 * res[winner]['test_std']:.2f}%" in report
    for png in ("train_loss_epoch", "val_accuracy_epoch", "val_accuracy_time", "train_loss_time", "lr_sweep"):
        assert (run.path / "plots" / f"{png}.png").is_file(), png
    children = sorted(p.name for p in (run.path / "runs").iterdir())
    assert len(children) == 2 * 4 * 2 and "adam-lr0.001-seed1" in children
    assert not (run.path / "runs" / "adam-lr0.001-seed1" / "report.md").exists()  # no per-child report: speed

    # The HTML page leads with the experiment's own findings, not one line per child run.
    assert main(["report", str(run.path), "--out", str(tmp_path / "site")]) == 0
    page = (tmp_path / "site" / "optimizers" / "index.html").read_text()
    assert f"{winner} wins with" in page and "seed0: Validation" not in page
    assert 'src="plots/val_accuracy_time.png"' in page


def test_a_diverging_learning_rate_is_recorded_not_chosen(settings):
    cfg = OptimizersConfig(dataset="digits", optimizers=["sgd"], lr_factors=[1.0, 1e4], seeds=1, quick=True)
    run, summary = run_experiment("optimizers", cfg, settings, log=lambda m: None)
    sweep = summary["results"]["sgd"]["sweep"]
    assert sweep["1000"]["diverged"] == 1 and sweep["1000"]["val_mean"] is None
    assert summary["results"]["sgd"]["best_lr"] == 0.1
    assert "Diverged (loss became inf/NaN): sgd lr 1000 (1/1)" in (run.path / "report.md").read_text()
