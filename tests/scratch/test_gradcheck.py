import numpy as np

import pytest

from neuralab.scratch import Dense, SoftmaxCrossEntropy, mlp
from neuralab.scratch.fast import FastSoftmaxCrossEntropy, fast_mlp
from neuralab.scratch.gradcheck import check_layer, check_model, gradcheck, numerical_grad, rel_error


def test_numerical_grad_of_a_known_function():
    x = np.array([1.0, -2.0, 3.0])
    g = numerical_grad(lambda: float(np.sum(x**3)), x)
    np.testing.assert_allclose(g, 3 * x**2, rtol=1e-8)


def test_gradcheck_catches_a_wrong_backward():
    class Broken(Dense):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["W"] *= 1.01  # a 1% error
            return dx

    errors = check_layer(Broken(3, 2), np.random.default_rng(0).standard_normal((4, 3)))
    assert not gradcheck(errors) and errors["W"] > 1e-3 and errors["x"] < 1e-6


@pytest.mark.parametrize("build, loss", [(mlp, SoftmaxCrossEntropy), (fast_mlp, FastSoftmaxCrossEntropy)])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_whole_model_gradients_through_dropout(build, loss, activation):
    # Seed 3 drops no unit's whole input: that would leave its pre-activation exactly on ReLU's kink at 0, where
    # finite differences are undefined.
    model = build(3, [5, 4], 3, activation=activation, dropout=0.3, seed=3)
    x = np.random.default_rng(1).standard_normal((6, 3))
    errors = check_model(model, loss(), x, np.array([0, 1, 2, 2, 1, 0]))
    assert set(errors) == {name for name, _, _ in model.params()}
    assert gradcheck(errors), errors


def test_rel_error_is_scale_free():
    a = np.array([1e-3, 2e-3])
    assert rel_error(a, a * (1 + 1e-9)) < 1e-8 and rel_error(a, a * 1.1) > 0.05
