"""The fast version is the plain version's math: same outputs, same gradients, same training, same saved files."""

import numpy as np

from neuralab.scratch import Adam, Sequential, SoftmaxCrossEntropy, mlp
from neuralab.scratch.fast import FastAdam, FastDense, FastReLU, FastSequential, FastSoftmaxCrossEntropy, fast_mlp


def batches(n=5, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((16, 6)).astype(np.float32), rng.integers(0, 4, 16)) for _ in range(n)]


def test_fast_mlp_is_mlp_with_fast_layers_and_the_same_weights():
    plain, fast = mlp(6, [8, 8], 4, seed=3), fast_mlp(6, [8, 8], 4, seed=3)
    assert [type(layer) for layer in fast.layers] == [FastDense, FastReLU, FastDense, FastReLU, FastDense]
    assert all(np.array_equal(a, b) for (_, a, _), (_, b, _) in zip(plain.params(), fast.params()))
    assert fast.config() == plain.config()


def test_fast_and_plain_train_to_the_same_weights():
    plain, fast = mlp(6, [8, 8], 4, seed=1), fast_mlp(6, [8, 8], 4, seed=1)
    sides = [(plain, SoftmaxCrossEntropy(), Adam(plain, lr=1e-2)),
             (fast, FastSoftmaxCrossEntropy(), FastAdam(fast, lr=1e-2))]
    for x, y in batches():
        values = []
        for model, loss, opt in sides:
            values.append(loss.forward(model.forward(x), y))
            model.backward(loss.backward())
            opt.step()
        assert abs(values[0] - values[1]) < 1e-6
    for (name, a, _), (_, b, _) in zip(plain.params(), fast.params()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)


def test_fast_model_skips_dl_dinput_unless_asked():
    x, y = batches(1)[0]
    plain, fast = mlp(6, [8], 4, seed=0, dtype="float64"), fast_mlp(6, [8], 4, seed=0, dtype="float64")
    loss = SoftmaxCrossEntropy()
    loss.forward(plain.forward(x), y)
    dx = plain.backward(loss.backward())
    loss.forward(fast.forward(x), y)
    assert fast.backward(loss.backward()) is None
    loss.forward(fast.forward(x), y)
    np.testing.assert_allclose(fast.backward(loss.backward(), input_grad=True), dx, rtol=1e-12)


def test_saved_fast_model_loads_plain_or_fast(tmp_path):
    fast = fast_mlp(6, [8], 4, seed=2)
    fast.save(tmp_path / "m")
    x = batches(1)[0][0]
    again_plain, again_fast = Sequential.load(tmp_path / "m"), FastSequential.load(tmp_path / "m")
    assert type(again_plain.layers[0]) is not FastDense and type(again_fast.layers[0]) is FastDense
    np.testing.assert_array_equal(again_plain.predict(x), fast.predict(x))
    np.testing.assert_array_equal(again_fast.predict(x), fast.predict(x))
