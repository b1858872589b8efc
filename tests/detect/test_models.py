"""Detectors by name: head replacement, shape-checked loading, the run checkpoint round trip, ONNX parity."""

from __future__ import annotations

import pytest
import torch

from neuralab.errors import CheckpointError, ConfigError, NeuralabError
from neuralab.models.detectors import DETECTORS, build_detector

SSD = "ssdlite320_mobilenet_v3_large"


def test_registry_names_the_four_detectors():
    assert DETECTORS.names() == ["fasterrcnn_mobilenet_v3_large_320_fpn", "fasterrcnn_mobilenet_v3_large_fpn",
                                 "ssdlite320_mobilenet_v2", SSD]
    with pytest.raises(ConfigError, match="Did you mean"):
        DETECTORS.get("ssdlite320_mobilenet_v3")


@pytest.mark.parametrize("name", [SSD, "fasterrcnn_mobilenet_v3_large_320_fpn"])
def test_local_weights_load_and_a_new_head_is_fitted(name, tmp_path):
    model, _ = build_detector(name, 4)
    torch.save(model.state_dict(), tmp_path / "w.pth")
    same, _ = build_detector(name, 0, str(tmp_path / "w.pth"))  # class count read from the file
    for k, v in model.state_dict().items():
        assert torch.equal(v, same.state_dict()[k]), k
    other, _ = build_detector(name, 2, str(tmp_path / "w.pth"), image_size=96)  # new head, trunk loaded
    trunk = [k for k in model.state_dict() if k.startswith("backbone.")][0]
    assert torch.equal(other.state_dict()[trunk], model.state_dict()[trunk])
    out = other.eval()([torch.rand(3, 50, 70)])[0]
    assert out["boxes"].shape[1] == 4 and (out["labels"] <= 2).all()


def test_weights_of_another_architecture_are_refused(tmp_path):
    model, _ = build_detector("fasterrcnn_mobilenet_v3_large_320_fpn", 2)
    torch.save(model.state_dict(), tmp_path / "frcnn.pth")
    with pytest.raises(CheckpointError, match="does not fit ssdlite320"):
        build_detector(SSD, 2, str(tmp_path / "frcnn.pth"))


def test_onnx_runtime_matches_pytorch_on_generated_images(tmp_path):
    pytest.importorskip("onnxruntime")
    from neuralab.data.detection import generate
    from neuralab.tasks.detection_export import export_detector_onnx

    torch.manual_seed(0)
    model, _ = build_detector(SSD, 3, image_size=96)
    for p in model.head.parameters():  # a fresh head scores every box alike; spread them so the order is defined
        torch.nn.init.normal_(p, 0, 0.05)
    split, _ = generate("shapes", 2, 96, seed=1)
    result = export_detector_onnx(model, tmp_path / "ssd.onnx", 96, check_images=list(split.images), score=0.3)
    assert result["check"]["matched"] == [1.0, 1.0] and result["check"]["max_box_diff"] < 1e-2


def _detector_run(tmp_path, head_std: float):
    from neuralab.models.checkpoint import save_model
    from neuralab.train.detection import detector_card

    torch.manual_seed(0)
    model, _ = build_detector(SSD, 3, image_size=64)
    for p in model.head.parameters():  # scores spread widely enough that some boxes pass 0.3
        torch.nn.init.normal_(p, 0, head_std)
    run = tmp_path / f"ssd-{head_std}"
    save_model(run / "checkpoints" / "model.safetensors", model,
               detector_card(SSD, ["circle", "square", "triangle"], 64, "shapes-det", {}))
    return run


@pytest.mark.slow
def test_int8_detector_export_is_checked_against_the_fp32_boxes(tmp_path, settings):
    import json

    import onnx

    from neuralab.serve.export import export
    from neuralab.tasks.precision import ExportOptions

    options = ExportOptions(precision="int8", calibration_images=16)
    run = _detector_run(tmp_path, 0.1)
    with pytest.raises(ConfigError, match="a detection model exports in fp32, int8, not --precision bf16"):
        export(run, options=ExportOptions(precision="bf16"), settings=settings)
    folder = export(run, options=options, settings=settings)
    side = json.loads((folder / "serve.json").read_text())
    check = side["check"]
    assert side["engine"] == "onnxruntime-int8" and side["quantization"]["ops"] == ["Conv"]
    assert side["quantization"]["calibration_examples"] == 16
    assert check["passed"] and check["images"] == 60 and check["fp32_boxes"] > 0
    assert check["map50_vs_fp32"] >= 0.99 and 0 <= check["test_map50_int8"] <= 1
    graph = onnx.load(str(folder / "model.onnx")).graph
    dequantized = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert convs and all(n.input[1] in dequantized for n in convs)  # every convolution's weights are int8
    with pytest.raises(NeuralabError, match="no box scoring 0.3 or more on the 60 test images of shapes-det"):
        export(_detector_run(tmp_path, 0.01), options=options, settings=settings)  # nothing to compare against
