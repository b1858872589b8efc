"""Static QDQ int8 quantization with ONNX Runtime, on a small conv net: the calibration reader, the seeded sample,
and a quantized model that runs and stays close to fp32."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from neuralab.errors import ConfigError
from neuralab.tasks.quantize import Calibration, quantize_int8, sample


def test_sample_is_seeded_sorted_and_bounded():
    a, b = sample(100, 10, seed=3), sample(100, 10, seed=3)
    assert np.array_equal(a, b) and len(set(a)) == 10 and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, sample(100, 10, seed=4))
    assert np.array_equal(sample(5, 10, seed=0), np.arange(5))  # fewer available: all of them
    with pytest.raises(ConfigError, match="training split is empty"):
        sample(0, 10, seed=0)


def test_calibration_reader_yields_each_batch_once_then_none():
    batches = [{"input": np.zeros((2, 3), np.float32)}, {"input": np.ones((1, 3), np.float32)}]
    reader = Calibration(batches)
    assert [reader.get_next() is b for b in batches] == [True, True] and reader.get_next() is None
    reader.rewind()
    assert reader.get_next() is batches[0]


def test_quantized_conv_net_runs_and_stays_close(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4)).eval()
    x = torch.rand(64, 3, 12, 12)
    torch.onnx.export(net, (x[:2],), str(tmp_path / "fp32.onnx"), input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "n"}, "output": {0: "n"}}, opset_version=17, dynamo=False)
    report = quantize_int8(tmp_path / "fp32.onnx", tmp_path / "int8.onnx",
                           Calibration([{"input": x[i:i + 16].numpy()} for i in range(0, 64, 16)]))
    assert report["calibration"] == "minmax" and report["ops"] == "all that ORT quantizes"
    assert "QuantizeLinear" in {n.op_type for n in onnx.load(str(tmp_path / "int8.onnx")).graph.node}
    sess = ort.InferenceSession(str(tmp_path / "int8.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        want = net(x).numpy()
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
    with pytest.raises(ConfigError, match="calibration must be one of minmax, entropy, percentile"):
        quantize_int8(tmp_path / "fp32.onnx", tmp_path / "x.onnx", Calibration([]), "kl")
