"""The acceptance number: the NumPy MLP on California housing reaches test RMSE ≤ 0.52 ($100k)."""

import pytest

from neuralab.data import load_dataset
from neuralab.scratch import MSE, Adam, mlp
from neuralab.scratch.train import evaluate, fit, prepare


@pytest.mark.slow
def test_mlp_reaches_rmse_052_on_housing(shared_settings):
    if not (shared_settings.data_dir / "california-housing" / "housing.csv").exists():
        pytest.skip(f"california-housing/housing.csv not found under {shared_settings.data_dir}")
    data = prepare(load_dataset("california-housing", shared_settings))
    model = mlp(8, [128, 128], 1, seed=0)
    epochs, lr = 80, 2e-3
    hist = fit(model, data, MSE(), Adam(model, lr=lr), epochs=epochs, batch_size=128, patience=15,
               lr_schedule=lambda e: lr * 0.5 * (1 + __import__("math").cos(3.141592653589793 * (e - 1) / epochs)))
    _, test = evaluate(model, MSE(), data["test"])
    assert test["rmse"] <= 0.52, (test, hist.best_epoch)
