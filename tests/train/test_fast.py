import json

import numpy as np
import pytest
import torch

from neuralab.data.base import Split, make_dataset
from neuralab.models import create_model
from neuralab.models.fastnet import PatchWhitening
from neuralab.runs import Run
from neuralab.models.checkpoint import load_model
from neuralab.train.fast import EpochBatches, FastConfig, _lookahead, normalize, predict_tta, train_fast


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
        summaries.append(train_fast(data, FastConfig(epochs=4, batch_size=64, tta=2), run, torch.device("cpu"),
                                    log=lambda m: None))
    assert summaries[0].test_accuracy >= 0.9
    assert summaries[0].test_accuracy == summaries[1].test_accuracy  # same seed, same numbers
    model, meta = load_model(run.path)
    x = (torch.from_numpy(data.test.x).float() / 255 - torch.tensor(data.mean).view(1, 3, 1, 1)) / \
        torch.tensor(data.std).view(1, 3, 1, 1)
    acc = (predict_tta(model, x, 2).argmax(1).numpy() == data.test.y).mean()
    assert abs(acc - summaries[1].test_accuracy) < 1e-6


def test_full_train_folds_validation_into_training_and_skips_the_validation_pass(tmp_path):
    data = tiny()
    run = Run.create(tmp_path, "full")
    summary = train_fast(data, FastConfig(epochs=1, batch_size=64, tta=0, full_train=True), run, torch.device("cpu"),
                         log=lambda m: None)
    assert summary.train_images == len(data.train) + len(data.val)
    assert run.metrics("val") == []  # the validation images were trained on: no per-epoch "validation" figure
    assert [r.epoch for r in run.metrics("train")] == [1]


def test_the_recipe_trains_any_registered_model_and_saves_it_by_name(tmp_path):
    data = tiny()
    run = Run.create(tmp_path, "cnn")
    cfg = FastConfig.of(model="cnn", model_args="depth=2 width=8 residual=true", lr=3.0, epochs=4, batch_size=64,
                        tta=1)
    summary = train_fast(data, cfg, run, torch.device("cpu"), log=lambda m: None)
    assert summary.test_accuracy >= 0.9  # cnn has no patch-whitening layer: the recipe must not need one
    model, card = load_model(run.path)
    assert card.architecture == "cnn" and card.args == {"depth": 2, "width": 8, "residual": True}
    assert sum(p.numel() for p in model.parameters()) == sum(
        p.numel() for p in create_model("cnn", (3, 32, 32), 2, depth=2, width=8, residual=True).parameters())


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_both_precisions_learn_and_say_which_they_used(tmp_path, precision):
    run = Run.create(tmp_path, precision)
    summary = train_fast(tiny(), FastConfig(epochs=4, batch_size=64, tta=1, precision=precision), run,
                         torch.device("cpu"), log=lambda m: None)
    assert summary.test_accuracy >= 0.9
    assert summary.precision == precision
    assert json.loads((run.path / "config.json").read_text())["precision"] == precision
    model, _ = load_model(run.path)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # bf16 computes; the weights stay fp32


def test_normalize_stores_the_compute_dtype_channels_last():
    data = tiny(16)
    x32 = normalize(data.train.x, data, torch.device("cpu"))
    x16 = normalize(data.train.x, data, torch.device("cpu"), torch.bfloat16)
    assert x16.dtype == torch.bfloat16 and x16.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(x16.float(), x32, atol=0.02 * x32.abs().max().item())
    assert abs(x32.mean().item()) < 1.5  # normalized, not raw bytes


def test_epoch_batches_show_every_image_once_and_mirror_each_in_exactly_one_of_two_epochs():
    n = 50
    ramp = torch.linspace(0, 0.5, 8).view(1, 1, 1, 8)  # rising left to right; mirrored, it falls
    x = (torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1) + ramp).expand(n, 1, 8, 8).contiguous()
    batches = EpochBatches(x, torch.arange(n), 16, torch.Generator().manual_seed(0))  # label i = image i
    assert len(batches) == 4
    mirrored = []
    for epoch in (1, 2):
        xs, ys = zip(*batches.epoch(epoch))
        xb, yb = torch.cat(xs), torch.cat(ys)
        assert sorted(yb.tolist()) == list(range(n))  # a permutation: every image once
        assert torch.equal(xb.amin((1, 2, 3)), yb.float())  # each label still rides with its image
        mirrored.append(dict(zip(yb.tolist(), (xb[:, 0, 0, 0] > xb[:, 0, 0, -1]).tolist())))
    assert all(mirrored[0][i] != mirrored[1][i] for i in range(n))  # each mirrored in exactly one epoch
    assert 10 < sum(mirrored[0].values()) < 40


def test_lookahead_pulls_towards_the_average_and_decay_one_jumps_back_to_it():
    model = torch.nn.Linear(2, 1)
    slow = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.weight.fill_(1.0)
    _lookahead(slow, model, 0.75)
    assert torch.allclose(slow["weight"], torch.full((1, 2), 0.25)) and torch.equal(model.weight, slow["weight"])
    with torch.no_grad():
        model.weight.fill_(5.0)
    _lookahead(slow, model, 1.0)
    assert torch.allclose(model.weight, torch.full((1, 2), 0.25))  # the weights return to the average


def test_the_whitening_bias_learns_only_for_its_epochs(tmp_path):
    biases = []
    for epochs_learning in (0, 2):
        run = Run.create(tmp_path, f"wb{epochs_learning}")
        train_fast(tiny(), FastConfig(epochs=3, batch_size=64, tta=0, whiten_bias_epochs=epochs_learning), run,
                   torch.device("cpu"), log=lambda m: None)
        model, _ = load_model(run.path)
        biases.append(model[0].bias.detach())
    assert torch.count_nonzero(biases[0]) == 0  # frozen from the start: still its zero init
    assert torch.count_nonzero(biases[1]) > 0


def test_cutout_in_the_recipe_trains(tmp_path):
    run = Run.create(tmp_path, "cut")
    summary = train_fast(tiny(), FastConfig(epochs=2, batch_size=64, tta=0, cutout=8), run, torch.device("cpu"),
                         log=lambda m: None)
    assert json.loads((run.path / "config.json").read_text())["config"]["cutout"] == 8
    assert 0.0 <= summary.test_accuracy <= 1.0


def test_fp16_with_loss_scaling_learns(tmp_path, monkeypatch):
    """GPUs without bf16 train in fp16 with a GradScaler; a CPU refuses fp16, so the test forces it (on a small cnn:
    CPU fp16 convolutions are emulated and slow)."""
    import neuralab.train.fast as fast

    monkeypatch.setattr(fast, "resolve_precision", lambda *a, **k: torch.float16)
    run = Run.create(tmp_path, "fp16")
    cfg = FastConfig.of(model="cnn", model_args="depth=2 width=8 residual=true", lr=3.0, epochs=4, batch_size=64,
                        tta=1)
    summary = train_fast(tiny(), cfg, run, torch.device("cpu"), log=lambda m: None)
    assert summary.precision == "float16" and summary.test_accuracy >= 0.9
