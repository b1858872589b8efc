import numpy as np

from neuralab.data import load_dataset
from neuralab.runs import Run
from neuralab.scratch import Adam, SoftmaxCrossEntropy, mlp
from neuralab.scratch.train import Arrays, evaluate, fit, prepare


def tiny_points(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2)).astype(np.float32)
    y = rng.integers(0, 2, n)  # random labels: only memorizing gets them all
    return {"train": Arrays(x, y), "val": Arrays(x, y)}


def test_tiny_overfit_reaches_100_percent_on_32_points():
    data = tiny_points()
    model = mlp(2, [64, 64], 2, seed=0)
    hist = fit(model, data, SoftmaxCrossEntropy(), Adam(model, lr=1e-2), epochs=300, batch_size=32)
    _, metrics = evaluate(model, SoftmaxCrossEntropy(), data["train"])
    assert metrics["accuracy"] == 1.0, hist.rows[-1]


def test_same_seed_gives_identical_weights_and_metrics():
    def once(seed):
        data = tiny_points()
        model = mlp(2, [16], 2, seed=seed)
        hist = fit(model, data, SoftmaxCrossEntropy(), Adam(model, lr=1e-2), epochs=5, batch_size=8, seed=seed)
        return model.state(), [(r["loss"], r["metrics"]) for r in hist.rows]

    (w1, m1), (w2, m2), (w3, _) = once(0), once(0), once(1)
    assert m1 == m2 and all(np.array_equal(w1[k], w2[k]) for k in w1)
    assert not all(np.array_equal(w1[k], w3[k]) for k in w1)


def test_metrics_are_logged_in_the_engine_format_and_early_stopping_restores_best(tmp_path):
    data = tiny_points()
    data["val"] = Arrays(data["val"].x, 1 - data["val"].y)  # validation gets worse as training fits
    run = Run.create(tmp_path, "t")
    model = mlp(2, [16], 2, seed=0)
    hist = fit(model, data, SoftmaxCrossEntropy(), Adam(model, lr=1e-2), epochs=200, batch_size=8, patience=3,
               run=run)
    rows = [r.to_json() for r in run.metrics()]  # the same records the torch engine writes (records.EpochRow)
    assert rows == hist.rows and {r["split"] for r in rows} == {"train", "val"}
    assert set(rows[0]) == {"epoch", "split", "loss", "metrics", "lr", "seconds"} and "accuracy" in rows[0]["metrics"]
    assert hist.stopped.startswith("early stop") and rows[-1]["epoch"] == hist.best_epoch + 3
    best_val = [r for r in rows if r["split"] == "val" and r["epoch"] == hist.best_epoch][0]
    assert evaluate(model, SoftmaxCrossEntropy(), data["val"])[1] == best_val["metrics"]


def test_prepare_standardizes_with_training_statistics():
    data = prepare(load_dataset("digits"))
    assert data["train"].x.shape[1] == 64 and data["train"].x.dtype == np.float32
    assert abs(data["train"].x.mean()) < 1e-3
    assert data["test"].y.dtype == np.int64


def test_spiral_three_arms_reaches_98_percent_test_accuracy():
    data = prepare(load_dataset("spiral"))  # default: 1,500 points, noise 0.2
    model = mlp(2, [64, 64], 3, seed=0)
    epochs, lr = 60, 3e-3
    fit(model, data, SoftmaxCrossEntropy(), Adam(model, lr=lr), epochs=epochs, batch_size=32,
        lr_schedule=lambda e: lr * 0.5 * (1 + np.cos(np.pi * (e - 1) / epochs)))
    assert evaluate(model, SoftmaxCrossEntropy(), data["test"])[1]["accuracy"] >= 0.98


def test_regression_rows_carry_rmse_and_mae_like_the_torch_engine():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]])).astype(np.float32)
    data = {"train": Arrays(x, y), "val": Arrays(x, y)}
    from neuralab.scratch import MSE

    model = mlp(3, [16], 1, seed=0)
    hist = fit(model, data, MSE(), Adam(model, lr=1e-2), epochs=30, batch_size=16)
    first, last = hist.rows[1], hist.rows[-1]
    assert all(set(r["metrics"]) == {"rmse", "mae"} for r in hist.rows)
    assert abs(last["metrics"]["rmse"] ** 2 - last["loss"]) < 1e-4 and last["loss"] < 0.2 * first["loss"]


def test_binary_cross_entropy_reports_accuracy_from_its_own_decision_rule():
    # The trap: fit/evaluate scored every non-MSE loss by argmax over columns, so one logit column (BCE) gave
    # nonsense (217.0 from evaluate, 0.47 from fit) for a model that classifies every point right.
    from neuralab.scratch import BinaryCrossEntropy
    from neuralab.scratch.single_layer import logistic_regression

    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 2)).astype(np.float32)
    x = x[np.abs(x[:, 0] - x[:, 1]) > 0.2]  # a margin around the line x0 = x1
    y = (x[:, :1] - x[:, 1:] > 0).astype(np.float32)  # (N, 1) labels
    data = {"train": Arrays(x, y), "val": Arrays(x, y)}
    model = logistic_regression(2)
    hist = fit(model, data, BinaryCrossEntropy(), Adam(model, lr=0.1), epochs=40, batch_size=32)
    assert ((model.predict(x) > 0) == y).all()  # every training point on the right side
    assert evaluate(model, BinaryCrossEntropy(), data["train"])[1] == {"accuracy": 1.0}
    assert hist.curve("val", "accuracy")[-1] == 1.0 and hist.curve("train", "accuracy")[-1] > 0.95
