import numpy as np
import torch

from neuralab.data.base import Split, make_dataset
from neuralab.models import create_model
from neuralab.models.fastnet import PatchWhitening
from neuralab.runs import Run
from neuralab.train.checkpoint import load_model
from neuralab.train.fast import FastConfig, predict_tta, train_fast


def test_patch_whitening_decorrelates_patches():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(64, 1, 16, 16, generator=g)
    noise = [torch.rand(64, 1, 16, 16, generator=g) for _ in range(2)]
    x = torch.cat([base, 0.8 * base + 0.2 * noise[0], 0.5 * base + 0.5 * noise[1]], 1)  # correlated, full rank
    layer = PatchWhitening(3)
    layer.fit(x, eps=1e-7)
    out = torch.nn.functional.conv2d(x, layer.weight[:12])  # the positive half: one channel per eigenvector
    flat = out.permute(0, 2, 3, 1).reshape(-1, 12)
    cov = flat.T @ flat / len(flat)
    assert torch.allclose(cov, torch.eye(12), atol=0.05)
    assert not layer.weight.requires_grad


def tiny(n=256):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    x = rng.integers(0, 100, (n, 3, 32, 32)).astype(np.uint8)
    x[y == 1, 0] += 120  # class 1 is redder: learnable
    return make_dataset("tiny", "classification", Split(x, y), Split(x[:64], y[:64]), classes=["a", "b"])


def test_fast_recipe_learns_writes_a_checkpoint_and_repeats(tmp_path):
    data = tiny()
    summaries = []
    for i in range(2):
        run = Run.create(tmp_path, f"fast{i}")
        summaries.append(train_fast(create_model("fastnet", (3, 32, 32), 2), data,
                                    FastConfig(epochs=4, batch_size=64, tta=2), run, torch.device("cpu"),
                                    log=lambda m: None))
    assert summaries[0]["test"]["accuracy"] >= 0.9
    assert summaries[0]["test"] == summaries[1]["test"]  # same seed, same numbers
    model, meta = load_model(run.path)
    x = (torch.from_numpy(data.test.x).float() / 255 - torch.tensor(data.mean).view(1, 3, 1, 1)) / \
        torch.tensor(data.std).view(1, 3, 1, 1)
    acc = (predict_tta(model, x, 2).argmax(1).numpy() == data.test.y).mean()
    assert abs(acc - summaries[1]["test"]["accuracy"]) < 1e-6


def test_full_train_folds_validation_into_training_and_skips_the_validation_pass(tmp_path):
    data = tiny()
    run = Run.create(tmp_path, "full")
    summary = train_fast(create_model("fastnet", (3, 32, 32), 2), data,
                         FastConfig(epochs=1, batch_size=64, tta=0, full_train=True), run, torch.device("cpu"),
                         log=lambda m: None)
    assert summary["train_images"] == len(data.train) + len(data.val)
    assert run.metrics("val") == []  # the validation images were trained on: no per-epoch "validation" figure
    assert [r["epoch"] for r in run.metrics("train")] == [1]
