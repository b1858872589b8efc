"""neuralab.scratch: neural networks from first principles in NumPy (no torch anywhere in this package).

Read in this order: layers → activations → losses → optim → model → gradcheck → train → single_layer, each forward
next to its backward and every result a fresh array. Then fast: the same layers, loss and Adam with reused buffers,
in-place backward and a fused Adam update, and what each of those buys (`fast_mlp`, `FastSoftmaxCrossEntropy`,
`FastAdam`: the benchmark and the longer experiments train with them).
"""

from neuralab.scratch.activations import GELU, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from neuralab.scratch.layers import LAYERS, Dense, Dropout, Flatten, Layer
from neuralab.scratch.losses import MSE, BinaryCrossEntropy, SoftmaxCrossEntropy
from neuralab.scratch.model import Sequential, mlp
from neuralab.scratch.optim import SGD, Adam

__all__ = ["GELU", "LAYERS", "MSE", "SGD", "Adam", "BinaryCrossEntropy", "Dense", "Dropout", "Flatten", "Layer",
           "LeakyReLU", "ReLU", "Sequential", "Sigmoid", "Softmax", "SoftmaxCrossEntropy", "Tanh", "mlp"]
