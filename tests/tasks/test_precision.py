"""The accuracy check that lets int8/bf16 replace fp32, and the torch runner both the check and the service use."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from neuralab.errors import ConfigError, NeuralabError
from neuralab.tasks.precision import ExportOptions, TorchRunner, has_conv, top1_check

Y = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1])


def _logits(pred: np.ndarray) -> np.ndarray:
    return np.eye(2, dtype=np.float32)[pred]


def test_top1_check_records_both_accuracies_agreement_and_drop():
    ref, got = Y.copy(), Y.copy()
    got[0] = 1 - got[0]  # one of ten wrong: 10 points
    r = top1_check(_logits(ref), _logits(got), Y, "int8", ExportOptions(max_drop=10), "toy")
    assert (r["fp32_accuracy"], r["accuracy"], r["agreement"], r["drop_points"]) == (1.0, 0.9, 0.9, 10.0)
    assert r["passed"] and r["examples"] == 10 and "forced" not in r


def test_top1_check_refuses_a_larger_drop_in_one_line_unless_forced():
    got = Y.copy()
    got[:3] = 1 - got[:3]
    with pytest.raises(NeuralabError) as e:
        top1_check(_logits(Y), _logits(got), Y, "int8", ExportOptions(), "toy")
    assert "\n" not in str(e.value)
    assert "70.00% is 30.00 points below fp32's 100.00% on the 10 test examples of toy" in str(e.value)
    assert "--calibration" in str(e.value) and "--force" in str(e.value)
    r = top1_check(_logits(Y), _logits(got), Y, "bf16", ExportOptions(force=True), "toy")
    assert r["passed"] is False and r["forced"] is True


def test_a_better_candidate_is_a_negative_drop_and_passes():
    worse = Y.copy()
    worse[0] = 1 - worse[0]
    r = top1_check(_logits(worse), _logits(Y), Y, "int8", ExportOptions(max_drop=0), "toy")
    assert r["drop_points"] == -10.0 and r["passed"]


def test_export_options_are_checked():
    with pytest.raises(ConfigError, match="max_drop"):
        ExportOptions(max_drop=-1)
    with pytest.raises(ConfigError, match="precision"):
        ExportOptions(precision="fp16")


def _conv_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3)).eval()


def test_has_conv_sees_torchscript_convolutions():
    net = _conv_net()
    assert has_conv(net) and has_conv(torch.jit.trace(net, torch.randn(1, 3, 8, 8)))
    assert not has_conv(nn.Sequential(nn.Linear(4, 2)))


def test_torch_runner_bf16_is_close_to_fp32_and_returns_fp32_arrays():
    x = np.random.default_rng(0).normal(size=(4, 3, 8, 8)).astype(np.float32)
    fp32 = TorchRunner(_conv_net())(x)
    bf16 = TorchRunner(_conv_net(), "bf16")(x)
    assert fp32.dtype == bf16.dtype == np.float32 and fp32.shape == (4, 3)
    assert not np.array_equal(fp32, bf16) and np.abs(fp32 - bf16).max() < 0.05
    with pytest.raises(NeuralabError, match="fp32 or bf16"):
        TorchRunner(_conv_net(), "int8")
