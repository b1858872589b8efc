import contextlib

import pytest
import torch

from neuralab import device as dev
from neuralab.errors import ConfigError

CPU = torch.device("cpu")


@pytest.mark.parametrize("amx", [True, False])
def test_auto_precision_on_a_cpu_is_bf16_only_for_conv_nets_on_amx(monkeypatch, amx):
    monkeypatch.setattr(dev, "cpu_has_amx", lambda: amx)
    assert dev.resolve_precision("auto", CPU) == (torch.bfloat16 if amx else torch.float32)
    assert dev.resolve_precision("auto", CPU, convolutional=False) == torch.float32


def test_explicit_precisions_and_bad_ones():
    assert dev.resolve_precision("float32", CPU) == torch.float32
    assert dev.resolve_precision("bfloat16", CPU) == torch.bfloat16
    with pytest.raises(ConfigError, match="needs a GPU"):
        dev.resolve_precision("float16", CPU)
    with pytest.raises(ConfigError, match="auto, float32, bfloat16, float16"):
        dev.resolve_precision("half", CPU)


def test_autocast_in_float32_is_a_no_op_and_bf16_computes_in_bf16():
    assert isinstance(dev.autocast(CPU, dtype=torch.float32), contextlib.nullcontext)
    assert isinstance(dev.autocast(CPU), contextlib.nullcontext)  # no dtype: mixed precision on GPUs only
    layer = torch.nn.Linear(4, 2)
    with dev.autocast(CPU, dtype=torch.bfloat16):
        assert layer(torch.randn(3, 4)).dtype == torch.bfloat16
    assert layer.weight.dtype == torch.float32


@pytest.mark.parametrize("amx", [True, False])
def test_bf16_inference_runs_where_it_is_fast(monkeypatch, amx):
    monkeypatch.setattr(dev.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "cpu_has_amx", lambda: amx)
    assert dev.bf16_inference_device() == (CPU if amx else None)
