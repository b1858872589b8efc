import numpy as np
import pytest
import torch

from neuralab.scratch import SGD, Adam
from neuralab.scratch.fast import FastAdam

CASES = {
    "sgd": (dict(lr=0.1), SGD, torch.optim.SGD),
    "sgd_wd": (dict(lr=0.1, weight_decay=0.01), SGD, torch.optim.SGD),
    "momentum": (dict(lr=0.1, momentum=0.9), SGD, torch.optim.SGD),
    "nesterov": (dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01), SGD, torch.optim.SGD),
    "adam": (dict(lr=0.01), Adam, torch.optim.Adam),
    "adam_wd": (dict(lr=0.01, weight_decay=0.1, betas=(0.8, 0.99)), Adam, torch.optim.Adam),
    "adam_fast": (dict(lr=0.01), FastAdam, torch.optim.Adam),
    "adam_wd_fast": (dict(lr=0.01, weight_decay=0.1, betas=(0.8, 0.99)), FastAdam, torch.optim.Adam),
}


@pytest.mark.parametrize("name", CASES)
def test_optimizer_follows_torch_for_several_steps(name):
    kwargs, ours_cls, torch_cls = CASES[name]
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(5)]
    g = np.zeros_like(w)
    ours = ours_cls([(w, g)], **kwargs)
    tw = torch.tensor(w.copy(), requires_grad=True)
    theirs = torch_cls([tw], **kwargs)
    for step_grad in grads:
        g[...] = step_grad
        ours.step()
        tw.grad = torch.tensor(step_grad.copy())
        theirs.step()
        np.testing.assert_allclose(w, tw.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert not np.allclose(w, rng.standard_normal((4, 3)))


@pytest.mark.parametrize("cls", [SGD, Adam, FastAdam])
def test_optimizer_updates_in_place_and_keeps_dtype(cls):
    w = np.ones((2, 2), dtype=np.float32)
    g = np.full((2, 2), 0.5, dtype=np.float32)
    same = w
    cls([(w, g)], lr=0.1, weight_decay=0.1).step()
    assert same is w and w.dtype == np.float32 and np.allclose(w, 0.9 if cls is not SGD else 0.94)


def test_invalid_settings_show_the_value():
    with pytest.raises(ValueError, match="lr=-1"):
        SGD([], lr=-1)
    with pytest.raises(ValueError, match="momentum=0"):
        SGD([], lr=0.1, nesterov=True)
