import numpy as np

from neuralab.data import load_dataset
from neuralab.scratch import Adam, BinaryCrossEntropy, SoftmaxCrossEntropy
from neuralab.scratch.single_layer import Perceptron, logistic_regression, softmax_regression
from neuralab.scratch.train import evaluate, fit, prepare


def test_perceptron_separates_blobs_and_stops():
    data = prepare(load_dataset("blobs", n_samples=300, noise=0.5))
    p = Perceptron(2, 3)
    mistakes = p.fit(data["train"].x, data["train"].y, epochs=100)
    assert mistakes[-1] == 0 and len(mistakes) < 100
    assert (p.predict(data["test"].x) == data["test"].y).mean() > 0.95


def test_softmax_regression_learns_digits():
    data = prepare(load_dataset("digits"))
    model = softmax_regression(64, 10)
    fit(model, data, SoftmaxCrossEntropy(), Adam(model, lr=1e-2), epochs=15, batch_size=64)
    assert evaluate(model, SoftmaxCrossEntropy(), data["test"])[1]["accuracy"] > 0.9


def test_logistic_regression_on_a_line():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 2))
    y = (x[:, 0] + 2 * x[:, 1] > 0).astype(np.float64)
    model = logistic_regression(2)
    loss, opt = BinaryCrossEntropy(), Adam(model, lr=0.1)
    for _ in range(200):
        loss.forward(model.forward(x), y)
        model.backward(loss.backward())
        opt.step()
    acc = ((model.predict(x)[:, 0] > 0) == y).mean()
    assert acc > 0.97
