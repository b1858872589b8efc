"""One helper drives every op against torch.autograd (tinygrad's `helper_test_op`): forward values and gradients
compared in float64, then the same op through our finite-difference `gradcheck`. Torch is used only in tests."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from neuralab.scratch.gradcheck import check_layer, gradcheck, rel_error

TOL = 1e-6


def helper_test_op(shapes: list[tuple[int, ...]], torch_fn: Callable, layer, seed: int = 0, train: bool = True,
                   low: float = -2.0, high: float = 2.0) -> None:
    """`torch_fn(x, *params)` must compute what `layer.forward(x)` computes; shapes[0] is the input's shape."""
    rng = np.random.default_rng(seed)
    layer.astype(np.float64)
    x = rng.uniform(low, high, shapes[0])
    ours_y = np.array(layer.forward(x.copy(), train))
    r = rng.standard_normal(ours_y.shape)
    ours_dx = np.array(layer.backward(r.copy()))
    ours_grads = {name: g.copy() for name, _, g in layer.params()}

    tx = torch.tensor(x, requires_grad=True)
    tparams = [torch.tensor(p.copy(), requires_grad=True) for _, p, _ in layer.params()]
    ty = torch_fn(tx, *tparams)
    ty.backward(torch.tensor(r))

    assert rel_error(ours_y, ty.detach().numpy()) < TOL, "forward differs from torch"
    assert rel_error(ours_dx, tx.grad.numpy()) < TOL, "dL/dx differs from torch"
    for (name, _, _), tp in zip(layer.params(), tparams):
        assert rel_error(ours_grads[name], tp.grad.numpy()) < TOL, f"dL/d{name} differs from torch"
    errors = check_layer(layer, x, train=train)
    assert gradcheck(errors, TOL), f"finite differences disagree: {errors}"
