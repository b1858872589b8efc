import pytest
import torch

from neuralab.errors import CheckpointError
from neuralab.models import MODELS, create_model
from neuralab.models.backbone_specs import BACKBONES, get_module, spec_of
from neuralab.models.weights import imagenet_cache_file, preprocessing

@pytest.mark.parametrize("name", BACKBONES.names())
def test_every_backbone_builds_with_a_new_head_and_named_stages(name):
    spec = spec_of(name)
    model = create_model(name, (3, 32, 32), 5)
    assert get_module(model, spec.head).out_features == 5
    names = [n for n, _ in model.named_parameters()]
    for stage in spec.stages:
        assert any(n.startswith(stage + ".") for n in names), f"{name}: stage {stage} has no parameters"
    assert name in MODELS


def test_grey_images_are_repeated_to_rgb():
    model = create_model("resnet_small", (1, 16, 16), 2)
    assert model(torch.randn(2, 1, 16, 16)).shape == (2, 2)
    model = create_model("resnet18", (1, 32, 32), 2)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 2)


def test_local_pth_and_safetensors_weights_load(tmp_path):
    from safetensors.torch import save_file

    src = create_model("resnet18", (3, 32, 32), 1000)
    torch.save(src.state_dict(), tmp_path / "r18.pth")
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(tmp_path / "r18.safetensors"))
    for f in ("r18.pth", "r18.safetensors"):
        model = create_model("resnet18", (3, 32, 32), 2, pretrained=str(tmp_path / f))
        assert torch.equal(model.layer4[1].conv2.weight, src.layer4[1].conv2.weight)
        assert model.fc.out_features == 2  # the head is new, never loaded


def test_wrong_architecture_file_is_a_clear_error(tmp_path):
    torch.save(create_model("mobilenet_v3_small", (3, 32, 32), 10).state_dict(), tmp_path / "m.pth")
    with pytest.raises(CheckpointError, match=r"does not fit resnet18 \(\d+ difference\(s\)\); was it saved from "
                                               r"another architecture\?\n  conv1.weight: file missing"):
        create_model("resnet18", (3, 32, 32), 2, pretrained=str(tmp_path / "m.pth"))


def test_pth_that_is_not_a_plain_state_dict_is_refused(tmp_path):
    torch.save({"net": torch.nn.Linear(2, 2)}, tmp_path / "pickled_module.pth")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        create_model("resnet18", (3, 32, 32), 2, pretrained=str(tmp_path / "pickled_module.pth"))
    with pytest.raises(CheckpointError, match="does not exist"):
        create_model("resnet18", (3, 32, 32), 2, pretrained=str(tmp_path / "absent.pth"))


def test_missing_imagenet_weights_offline_say_where_to_put_which_file(monkeypatch, tmp_path):
    from torchvision.models import get_model_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(*a, **k):
        raise OSError("no network")

    monkeypatch.setattr(type(get_model_weights("resnet18").DEFAULT), "get_state_dict", offline)
    path, url = imagenet_cache_file(spec_of("resnet18"))
    with pytest.raises(CheckpointError) as e:
        create_model("resnet18", (3, 224, 224), 2, pretrained="imagenet")
    msg = str(e.value)
    assert "resnet18-f37072fd.pth" in msg and str(path.parent) in msg and url in msg and "--weights PATH" in msg
    with pytest.raises(CheckpointError, match="no ImageNet weights for resnet_small"):
        create_model("resnet_small", (3, 32, 32), 2, pretrained="imagenet")


def test_preprocessing_comes_with_the_weights(tmp_path):
    from neuralab.data.preprocess import Preprocess
    from neuralab.models.checkpoint import save_model
    from neuralab.records import ModelCard

    assert preprocessing(spec_of("resnet50"), "imagenet") == Preprocess((3, 224, 224), (0.485, 0.456, 0.406),
                                                                        (0.229, 0.224, 0.225), 255.0, 232)
    model = create_model("resnet_small", (3, 24, 24), 4)
    pre = Preprocess((3, 24, 24), (0.1, 0.2, 0.3), (0.4, 0.5, 0.6))
    save_model(tmp_path / "m.safetensors", model, ModelCard("resnet_small", "classification", (3, 24, 24), 4, pre))
    assert preprocessing(spec_of("resnet_small"), str(tmp_path / "m.safetensors")) == Preprocess(
        (3, 24, 24), (0.1, 0.2, 0.3), (0.4, 0.5, 0.6), 255.0, 24)
    # a mean/std given on the command line overrides the weights' (TensorFlow's MobileNets want [-1, 1])
    assert preprocessing(spec_of("mobilenet_v2"), "imagenet", (0.5,) * 3, (0.5,) * 3).mean == (0.5, 0.5, 0.5)


def _state_file(path, name):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(create_model(name, (3, 32, 32), 1000).state_dict(), path)
    return path


def test_imagenet_weights_are_found_in_the_weights_folder_without_downloading(tmp_path, monkeypatch):
    from neuralab.models.weights import find_any_imagenet, find_imagenet

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # torch's own cache: empty
    folder = tmp_path / "weights"
    assert find_imagenet("resnet18", folder) is None and find_any_imagenet(folder) is None
    # a known non-torchvision checkpoint, recognised by name, brings its own input scaling
    mnv2 = _state_file(folder / "mobilenet_v2_imagenet_tflite_dequant.pth", "mobilenet_v2")
    found = find_any_imagenet(folder)
    assert (found.backbone, found.weights, found.mean) == ("mobilenet_v2", str(mnv2), (0.5, 0.5, 0.5))
    # torchvision's own file for the preferred architecture wins, under torchvision's file name
    path, _ = imagenet_cache_file(spec_of("resnet18"))
    r18 = _state_file(folder / path.name, "resnet18")
    found = find_any_imagenet(folder)
    assert (found.backbone, found.weights, found.mean) == ("resnet18", str(r18), ())
    # and `--weights imagenet` reads it from the folder named by NEURALAB_WEIGHTS, offline
    monkeypatch.setenv("NEURALAB_WEIGHTS", str(folder))
    model = create_model("resnet18", (3, 32, 32), 2, pretrained="imagenet")
    assert torch.equal(model.conv1.weight, torch.load(r18, weights_only=True)["conv1.weight"])
