"""SSDLite on MobileNetV2: builds with a random or a given trunk, trains a step, round-trips through a checkpoint,
takes the trunk's preprocessing, and refuses a trunk of another shape; `detect --weights coco` reads the weights
folder first."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision

from neuralab.cli import main
from neuralab.errors import CheckpointError
from neuralab.models.checkpoint import save_model
from neuralab.models.detectors import build_detector, detector_card, load_detector
from neuralab.models.ssdlite import FrozenStatsBatchNorm2d
from tests.detect.helpers import picture

V2 = "ssdlite320_mobilenet_v2"
TFLITE = "mobilenet_v2_imagenet_tflite_dequant.pth"  # a known checkpoint: its inputs are scaled to [-1, 1]


@pytest.fixture(autouse=True)
def no_torch_cache(monkeypatch, tmp_path):
    """No torch hub cache of this machine's: `imagenet` must come from the weights folder given."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


@pytest.fixture
def trunk_file(tmp_path):
    """A random torchvision MobileNetV2 classifier's state dict, as a user's trunk file."""
    torch.manual_seed(3)
    state = torchvision.models.mobilenet_v2().state_dict()
    torch.save(state, tmp_path / "mv2.pth")
    return tmp_path / "mv2.pth", state


def first_conv(model) -> torch.Tensor:
    return model.backbone.features[0][0][0].weight  # trunk.features[0] is the stem's Conv2dNormActivation


def test_random_trunk_builds_detects_and_trains_a_step():
    torch.manual_seed(0)
    model, info = build_detector(V2, 2, image_size=64)
    assert info["trunk"] == "random" and model.transform.image_mean == [0.5] * 3
    assert not any(isinstance(m, FrozenStatsBatchNorm2d) for m in model.modules())
    with torch.no_grad():
        out = model.eval()([torch.rand(3, 64, 64), torch.rand(3, 40, 70)])
    for o in out:
        assert o["boxes"].shape[1] == 4 and len(o["boxes"]) == len(o["scores"]) == len(o["labels"])
        assert (o["labels"] >= 1).all() and (o["labels"] <= 2).all()
    model.train()
    targets = [{"boxes": torch.tensor([[8.0, 8.0, 40.0, 40.0]]), "labels": torch.tensor([1])}] * 2
    losses = model([torch.rand(3, 64, 64)] * 2, targets)  # two: the 1x1 extra maps' batch norms need > 1 value
    loss = sum(losses.values())
    loss.backward()
    assert set(losses) == {"bbox_regression", "classification"} and torch.isfinite(loss)
    assert model.head.classification_head.module_list[0][1].weight.grad.abs().sum() > 0


def test_a_trunk_file_loads_into_the_detector_with_its_preprocessing(trunk_file, tmp_path):
    path, state = trunk_file
    model, info = build_detector(V2, 3, weights_backbone=str(path), image_size=64)
    assert torch.equal(first_conv(model), state["features.0.0.weight"])
    assert info["trunk"] == str(path)
    assert model.transform.image_mean == pytest.approx([0.485, 0.456, 0.406])  # torchvision's MobileNetV2
    card = detector_card(V2, ["a", "b", "c"], 64, "x", {}, model)
    assert card.args["image_std"] == pytest.approx([0.229, 0.224, 0.225]) and card.args["pretrained_trunk"]
    # a pretrained trunk keeps its batch-norm statistics while the detector trains
    bn = model.backbone.features[0][0][1]
    before = bn.running_mean.clone()
    model.train()([torch.rand(3, 64, 64)] * 2, [{"boxes": torch.tensor([[4.0, 4.0, 30.0, 30.0]]),
                                                 "labels": torch.tensor([2])}] * 2)
    assert isinstance(bn, FrozenStatsBatchNorm2d) and torch.equal(bn.running_mean, before)


def test_imagenet_finds_a_known_checkpoint_in_the_weights_folder(trunk_file, tmp_path):
    _, state = trunk_file
    weights = tmp_path / "wdir"
    weights.mkdir()
    torch.save(state, weights / TFLITE)
    model, info = build_detector(V2, 2, weights_backbone="imagenet", image_size=64, weights_dir=weights)
    assert TFLITE in info["trunk"] and torch.equal(first_conv(model), state["features.0.0.weight"])
    assert model.transform.image_mean == [0.5] * 3 and model.transform.image_std == [0.5] * 3  # its own scaling


def test_a_trunk_of_another_shape_is_refused_with_the_differences(tmp_path):
    torch.save(torchvision.models.mobilenet_v2(width_mult=0.5).state_dict(), tmp_path / "half.pth")
    with pytest.raises(CheckpointError, match=r"does not fit mobilenet_v2 .*difference") as e:
        build_detector(V2, 2, weights_backbone=str(tmp_path / "half.pth"))
    assert "features.0.0.weight: file (16, 3, 3, 3) vs model (32, 3, 3, 3)" in str(e.value)
    with pytest.raises(CheckpointError, match="does not exist"):
        build_detector(V2, 2, weights_backbone=str(tmp_path / "absent.pth"))


@pytest.mark.parametrize("pretrained", [False, True])
def test_checkpoint_round_trip_gives_identical_detections(pretrained, trunk_file, tmp_path):
    path, _ = trunk_file
    torch.manual_seed(0)
    model, _ = build_detector(V2, 2, weights_backbone=str(path) if pretrained else "none", image_size=64)
    for p in model.head.parameters():  # spread the scores, so the kept boxes and their order are meaningful
        torch.nn.init.normal_(p, 0, 0.05)
    file = tmp_path / "run" / "checkpoints" / "model.safetensors"
    save_model(file, model, detector_card(V2, ["cat", "dog"], 64, "pets-heads", {}, model))
    loaded, meta = load_detector(file)
    assert meta["model"] == V2 and meta["categories"] == ["__background__", "cat", "dog"] and meta["image_size"] == 64
    assert loaded.transform.image_mean == model.transform.image_mean
    x = [torch.rand(3, 64, 64), torch.rand(3, 50, 80)]
    with torch.no_grad():
        want, got = model.eval()(x), loaded(x)
    for a, b in zip(want, got):
        assert len(a["boxes"]) > 0
        for k in ("boxes", "scores", "labels"):
            assert torch.equal(a[k], b[k]), k


def test_detect_weights_coco_reads_the_weights_folder_first(tmp_path, monkeypatch, capsys):
    """No network and no torch cache: the COCO file placed in the weights folder is what `detect` uses."""
    import torchvision.models._api as api

    def refuse(url, *a, **k):
        raise OSError(f"no network for {url}")

    monkeypatch.setattr(api, "load_state_dict_from_url", refuse)
    ssd = "ssdlite320_mobilenet_v3_large"
    torch.manual_seed(0)
    coco_like, _ = build_detector(ssd, 90)  # 91 labels, as torchvision's COCO file has
    weights = tmp_path / "wdir"
    weights.mkdir()
    torch.save(coco_like.state_dict(), weights / "ssdlite320_mobilenet_v3_large_coco-a79551df.pth")
    picture(64, 48).save(tmp_path / "one.png")
    out = tmp_path / "out"
    assert main(["detect", str(tmp_path / "one.png"), "--model", ssd, "--weights", "coco", "--weights-dir",
                 str(weights), "--score", "0", "--out", str(out)]) == 0
    doc = json.loads((out / "detections.json").read_text())
    assert doc["weights"] == "coco" and doc["images"][0]["width"] == 64
    model, meta = load_detector(ssd, "coco", weights_dir=weights)
    assert meta["categories"][1] == "person"  # COCO's label names
    for k, v in coco_like.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


def test_a_pretrained_trunk_trains_at_a_tenth_of_the_rate(trunk_file, settings):
    """At the full rate AdamW wrecked the ImageNet trunk within an epoch (every image's features the same: a
    collapsed detector); the trunk's group carries the scale that train_epoch applies."""
    from types import SimpleNamespace

    from neuralab.train.detection import DetectTrainConfig, _build

    path, _ = trunk_file
    data = SimpleNamespace(num_classes=3)  # all _build reads of a dataset
    cfg = DetectTrainConfig(model=V2, weights_backbone=str(path), image_size=64)
    model, opt, trunk = _build(cfg, data, settings)
    trunk_group, rest = opt.param_groups
    assert trunk == str(path) and trunk_group["lr_scale"] == 0.1 and rest["lr_scale"] == 1.0
    n_trunk = sum(1 for n, p in model.named_parameters() if n.startswith("backbone.features."))
    assert len(trunk_group["params"]) == n_trunk and len(rest["params"]) == len(list(model.parameters())) - n_trunk
    _, opt, _ = _build(cfg.replace(weights_backbone="none"), data, settings)  # a random trunk: one rate for all
    assert [g["lr_scale"] for g in opt.param_groups] == [1.0]
