import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neuralab.scratch import MSE, BinaryCrossEntropy, SoftmaxCrossEntropy
from neuralab.scratch.fast import FastSoftmaxCrossEntropy
from neuralab.scratch.gradcheck import check_loss, gradcheck, rel_error

rng = np.random.default_rng(0)
LOGITS = rng.standard_normal((8, 5)) * 3
CASES = {
    "mse": (MSE, rng.standard_normal((8, 5)), F.mse_loss),
    "bce": (BinaryCrossEntropy, (rng.random((8, 5)) > 0.5).astype(np.float64),
            F.binary_cross_entropy_with_logits),
    "softmax_ce": (SoftmaxCrossEntropy, rng.integers(0, 5, 8), F.cross_entropy),
}
CASES["softmax_ce_fast"] = (FastSoftmaxCrossEntropy, *CASES["softmax_ce"][1:])
SOFTMAX_CE = [SoftmaxCrossEntropy, FastSoftmaxCrossEntropy]


@pytest.mark.parametrize("name", CASES)
def test_loss_matches_torch_and_finite_differences(name):
    cls, target, torch_fn = CASES[name]
    loss = cls()
    value = loss.forward(LOGITS.copy(), target)
    grad = loss.backward().copy()
    tz = torch.tensor(LOGITS, requires_grad=True)
    tloss = torch_fn(tz, torch.tensor(target))
    tloss.backward()
    assert rel_error(value, tloss.item()) < 1e-10
    assert rel_error(grad, tz.grad.numpy()) < 1e-6
    assert gradcheck(check_loss(cls(), LOGITS, target))


@pytest.mark.parametrize("cls", SOFTMAX_CE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_is_stable_at_huge_logits(dtype, cls):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, -1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    y = np.array([0, 0, 1])
    loss = cls()
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # any overflow or invalid operation fails the test
        value = loss.forward(logits, y)
        grad = loss.backward()
    expected = F.cross_entropy(torch.tensor(logits, dtype=torch.float64), torch.tensor(y)).item()
    assert np.isfinite(value) and np.isfinite(grad).all()
    assert abs(value - expected) / expected < 1e-6  # (0 + 2e4 + ln 2) / 3
    assert grad.dtype == dtype


def test_binary_cross_entropy_is_stable_at_huge_logits():
    z = np.array([[1e4], [-1e4], [1e4]], dtype=np.float32)
    y = np.array([1.0, 1.0, 0.0])
    loss = BinaryCrossEntropy()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = loss.forward(z, y)
        grad = loss.backward()
    assert abs(value - 2e4 / 3) < 1e-2 and np.isfinite(grad).all()


@pytest.mark.parametrize("cls", SOFTMAX_CE)
def test_probabilities_are_not_overwritten_by_backward(cls):
    # The trap: the probabilities came back as the buffer that backward() then turned into gradients.
    loss = cls()
    target = CASES["softmax_ce"][1]
    loss.forward(LOGITS.copy(), target)
    probs = loss.probabilities()
    kept = probs.copy()
    loss.backward()
    softmax = torch.softmax(torch.tensor(LOGITS), dim=1).numpy()
    np.testing.assert_array_equal(probs, kept)
    np.testing.assert_allclose(kept, softmax, rtol=1e-12)
    np.testing.assert_allclose(loss.probabilities(), softmax, rtol=1e-12)
