"""The engine on bundled digits: learning, early stop, NaN detection, resume, checkpoint round trip."""

from __future__ import annotations

import pytest
import torch

from neuralab.config import Settings
from neuralab.errors import CheckpointError, ConfigError, TrainingDiverged
from neuralab.data.preprocess import Preprocess
from neuralab.models.checkpoint import STATE_KEY, load_model, read_metadata, read_tensors, save_model
from neuralab.records import ModelCard
from neuralab.train.config import TrainConfig
from neuralab.train.trainer import train


@pytest.fixture
def settings(tmp_path):
    return Settings(runs_dir=tmp_path / "runs", data_dir=tmp_path / "data", cache_dir=tmp_path / "cache",
                    download=False, device="cpu")


def cfg(**kw):
    base = dict(dataset="digits", model_args="hidden=32", epochs=3, batch_size=64, lr=3e-3, seed=0)
    return TrainConfig.of(**{**base, **kw})


def test_loss_decreases_and_metrics_logged(settings):
    run, summary, _ = train(cfg(epochs=4), settings, log=lambda s: None)
    rows = [r for r in run.metrics() if r.split == "train"]
    assert len(rows) == 4
    assert rows[-1].loss < rows[0].loss
    assert summary.test["accuracy"] > 0.8
    assert (run.checkpoints / "model.safetensors").is_file()


def test_early_stop_fires(settings):
    # lr=0 never improves after epoch 1, so patience 1 stops at epoch 2.
    _, summary, _ = train(cfg(epochs=10, lr=1e-12, schedule="constant", early_stop=1), settings, log=lambda s: None)
    assert summary.epochs_run == 2
    assert summary.stopped.startswith("early stop")


def test_nan_names_epoch_and_step_and_keeps_checkpoint(settings, monkeypatch):
    import dataclasses

    from neuralab.train import trainer as tr
    from neuralab.train.objectives import OBJECTIVES

    real = OBJECTIVES.get("classification")
    calls = {"n": 0, "after_epoch_1": False}

    def poisoned(out, y, smoothing):  # NaN from the 4th step of epoch 2 on
        calls["n"] += calls["after_epoch_1"]
        loss = real.loss(out, y, smoothing)
        return loss * float("nan") if calls["n"] > 3 else loss

    def log(msg):
        calls["after_epoch_1"] |= msg.startswith("epoch 1/")

    monkeypatch.setattr(tr, "OBJECTIVES", {"classification": dataclasses.replace(real, loss=poisoned)})
    with pytest.raises(TrainingDiverged, match=r"epoch 2, step \d+") as e:
        train(cfg(epochs=3), settings, log=log)
    assert "last.safetensors" in str(e.value)
    run_dir = next((settings.runs_dir).iterdir())
    assert read_metadata(run_dir / "checkpoints" / "last.safetensors")[STATE_KEY]


def test_checkpoint_round_trip_identical_predictions(settings, tmp_path):
    run, _, trainer = train(cfg(epochs=1), settings, log=lambda s: None)
    x = torch.randn(5, *trainer.data.input_shape)
    model, card = load_model(run.path)
    with torch.no_grad():
        assert torch.equal(model(x), trainer.eval_model.eval()(x))
    assert list(card.classes) == trainer.data.classes and card.architecture == "mlp" and card.task == "classification"


def test_shape_mismatch_is_clear(settings, tmp_path):
    from neuralab.models import create_model

    model = create_model("mlp", (1, 8, 8), 10, hidden=[16])
    card = ModelCard("mlp", "classification", (1, 8, 8), 10, Preprocess((1, 8, 8), (0.0,), (1.0,)),
                     args={"hidden": [32]})
    path = save_model(tmp_path / "m.safetensors", model, card)
    with pytest.raises(CheckpointError, match=r"(?s)does not match the model .*checkpoint \(16, 64\) vs model \(32, 64\)"):
        load_model(path)


class Killed(Exception):
    pass


def test_resume_equals_uninterrupted(settings):
    a, _, _ = train(cfg(epochs=3, name="full"), settings, log=lambda s: None)

    def die_after_epoch_2(msg):
        if msg.startswith("epoch 2/3"):
            raise Killed

    with pytest.raises(Killed):
        train(cfg(epochs=3, name="part"), settings, log=die_after_epoch_2)
    from neuralab.runs import find_run

    part = find_run("part", settings.runs_dir)
    b, _, _ = train(cfg(epochs=3, name="part"), settings, run=part, resume=True, log=lambda s: None)
    wa, wb = read_tensors(a.checkpoints / "last.safetensors"), read_tensors(b.checkpoints / "last.safetensors")
    keys = [k for k in wa if k.startswith("model.")]
    assert keys and all(torch.equal(wa[k], wb[k]) for k in keys)


def test_torchmetrics_summary_and_fresh_process_evaluation(settings):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    run, summary, trainer = train(cfg(epochs=2), settings, log=lambda s: None)
    test = summary.test
    assert len(test["precision"]) == len(test["recall"]) == 10
    n_test = len(trainer.data.test)
    assert sum(map(sum, test["confusion"])) == n_test
    assert sum(test["confusion"][i][i] for i in range(10)) / n_test == pytest.approx(test["accuracy"])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src"), "OMP_NUM_THREADS": "1",
           "NEURALAB_RUNS": str(settings.runs_dir)}
    out = subprocess.run([sys.executable, "-m", "neuralab", "eval", str(run.path), "--json"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    fresh = json.loads(out.stdout)
    assert fresh["accuracy"] == pytest.approx(test["accuracy"], abs=1e-12)
    assert fresh["confusion"] == test["confusion"]


def test_limit_eval_validates_and_tests_on_a_random_subset_and_one_test_pass_gives_every_metric(settings):
    _, full, whole = train(cfg(epochs=1), settings, log=lambda s: None)
    _, quick, part = train(cfg(epochs=1, limit_eval=50), settings, log=lambda s: None)
    assert len(part.data.val) == 50 and len(part.data.test) == 50 and len(whole.data.test) > 50
    assert len(set(part.data.test.y.tolist())) > 5  # drawn at random, not the first 50 of a sorted split
    assert sum(map(sum, quick.test["confusion"])) == 50
    # the loss and accuracy from the one prediction pass agree with a separate evaluation pass
    loss, metrics = whole.evaluate("test")
    assert full.test["loss"] == pytest.approx(loss, rel=1e-5)
    assert full.test["accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-6)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_a_conv_net_trains_in_either_precision_keeps_fp32_weights_and_repeats_bit_for_bit(settings, precision):
    kw = dict(model="cnn", model_args="depth=2 width=8", epochs=2, precision=precision)
    run, summary, _ = train(cfg(name=f"{precision}-a", **kw), settings, log=lambda s: None)
    assert summary.precision == precision and summary.test["accuracy"] > 0.5
    model, _ = load_model(run.path)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    again, _, _ = train(cfg(name=f"{precision}-b", **kw), settings, log=lambda s: None)
    wa, wb = read_tensors(run.checkpoints / "last.safetensors"), read_tensors(again.checkpoints / "last.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa if k.startswith("model."))  # same seed, same weights


def test_auto_precision_keeps_dense_nets_in_fp32_on_a_cpu(settings):
    _, summary, _ = train(cfg(epochs=1), settings, log=lambda s: None)
    assert summary.precision == "float32"


def test_tta_tests_on_the_mean_of_each_image_and_its_mirror(settings):
    kw = dict(model="cnn", model_args="depth=2 width=8", epochs=1, precision="float32")
    _, summary, trainer = train(cfg(tta=True, **kw), settings, log=lambda s: None)
    model = trainer.eval_model.eval()
    x = next(iter(trainer.eval_loaders["test"]))[0]
    with torch.no_grad():
        expected = 0.5 * model(x) + 0.5 * model(x.flip(-1))
    assert torch.allclose(trainer.predict("test")[: len(x)], expected, atol=1e-6)
    assert not torch.allclose(expected, model(x), atol=1e-4)  # the mirror changed something


def test_tta_on_points_is_a_clear_error(settings):
    with pytest.raises(ConfigError, match="mirrors images"):
        train(cfg(dataset="moons", tta=True), settings, log=lambda s: None)


def test_fp16_scales_the_loss_and_clips_and_steps_on_the_true_gradients(settings, monkeypatch):
    """CPUs refuse fp16 (ConfigError), so the test forces it: CPU autocast and GradScaler both support it. Were the
    gradients clipped while still scaled (x65536), every update would be ~65536x too small."""
    import neuralab.train.trainer as trainer_module

    kw = dict(model="cnn", model_args="depth=2 width=8", epochs=1, grad_clip=1.0, optimizer="sgd")
    start, _, _ = train(cfg(name="start", precision="float32", lr=1e-12, **kw), settings, log=lambda s: None)
    fp32, _, _ = train(cfg(name="fp32", precision="float32", lr=0.05, **kw), settings, log=lambda s: None)
    monkeypatch.setattr(trainer_module, "resolve_precision", lambda *a, **k: torch.float16)
    fp16, summary, trainer = train(cfg(name="fp16", lr=0.05, **kw), settings, log=lambda s: None)
    assert summary.precision == "float16" and trainer.scaler.is_enabled()
    assert trainer.scaler.get_scale() > 1  # the loss really was scaled
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    w0, w32, w16 = (read_tensors(r.checkpoints / "last.safetensors") for r in (start, fp32, fp16))
    weights = [k for k in w0 if k.startswith("model.") and k.endswith("weight")]
    assert weights
    for k in weights:  # same seed and start: fp16's updates match fp32's to a few percent
        assert (w16[k] - w32[k]).norm() < 0.05 * (w32[k] - w0[k]).norm(), k
