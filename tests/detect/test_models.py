"""Detectors by name: head replacement, shape-checked loading, the run checkpoint round trip, ONNX parity."""

from __future__ import annotations

import pytest
import torch

from neuralab.errors import CheckpointError, ConfigError
from neuralab.models.detectors import DETECTORS, build_detector

SSD = "ssdlite320_mobilenet_v3_large"


def test_registry_names_the_three_detectors():
    assert DETECTORS.names() == ["fasterrcnn_mobilenet_v3_large_320_fpn", "fasterrcnn_mobilenet_v3_large_fpn", SSD]
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
