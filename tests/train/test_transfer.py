import numpy as np
import pytest
import torch

from neuralab.data import load_dataset
from neuralab.models import create_model
from neuralab.models.backbone_specs import spec_of
from neuralab.data.preprocess import Preprocess
from neuralab.models.checkpoint import load_model
from neuralab.train.pretrain import weights_file
from neuralab.train.transfer import (TransferOptions, param_groups, prepare, resize_images, run_strategy,
                                     set_trainable)
from neuralab.runs import Run
from tests.data.images import write_image_folder


def trainable_prefixes(model):
    return {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}


def test_feature_extraction_trains_only_the_head():
    m = create_model("resnet18", (3, 32, 32), 2)
    trainable, total = set_trainable(m, spec_of("resnet18"), "feature-extraction")
    assert trainable_prefixes(m) == {"fc"} and trainable == 64 * 8 * 2 + 2 and total > 10_000_000


def test_fine_tune_last_n_stages_and_all():
    m = create_model("resnet18", (3, 32, 32), 2)
    set_trainable(m, spec_of("resnet18"), "fine-tune", unfreeze=2)
    assert trainable_prefixes(m) == {"layer3", "layer4", "fc"}
    set_trainable(m, spec_of("resnet18"), "fine-tune", unfreeze=0)
    assert all(p.requires_grad for p in m.parameters())
    m = create_model("mobilenet_v3_small", (3, 32, 32), 2)
    set_trainable(m, spec_of("mobilenet_v3_small"), "fine-tune", unfreeze=1)
    names = [n for n, p in m.named_parameters() if p.requires_grad]
    assert all(n.startswith(("features.12.", "classifier.")) for n in names) and names


def test_scratch_trains_everything_and_unknown_strategy():
    m = create_model("resnet_small", (3, 16, 16), 2)
    trainable, total = set_trainable(m, spec_of("resnet_small"), "scratch")
    assert trainable == total
    with pytest.raises(Exception, match="unknown strategy 'finetune'"):
        set_trainable(m, spec_of("resnet_small"), "finetune")


def test_discriminative_learning_rates():
    m = create_model("resnet_small", (3, 16, 16), 2)
    spec = spec_of("resnet_small")
    set_trainable(m, spec, "fine-tune", unfreeze=2)
    groups = {g["stage"]: g["lr"] for g in param_groups(m, spec, lr=1.0, backbone_lr=0.1)}
    assert groups == {5: 1.0, 4: pytest.approx(0.1), 3: pytest.approx(0.05)}


def test_frozen_batchnorm_keeps_its_statistics_in_train_mode():
    m = create_model("resnet_small", (3, 16, 16), 2)
    set_trainable(m, spec_of("resnet_small"), "fine-tune", unfreeze=1)
    frozen_bn, live_bn = m.stem[1], m.stage4[0].bn1
    before = frozen_bn.running_mean.clone(), live_bn.running_mean.clone()
    m.train()
    m(torch.randn(8, 3, 16, 16) * 3 + 1)
    assert torch.equal(frozen_bn.running_mean, before[0]) and not torch.equal(live_bn.running_mean, before[1])
    set_trainable(m, spec_of("resnet_small"), "scratch")  # unfreezing lifts the hook again
    m.train()
    m(torch.randn(8, 3, 16, 16) * 3 + 1)
    assert not torch.equal(frozen_bn.running_mean, before[0])


def test_bn_frozen_keeps_every_statistic_while_scale_and_shift_learn():
    m = create_model("resnet_small", (3, 16, 16), 2)
    set_trainable(m, spec_of("resnet_small"), "fine-tune", unfreeze=0, bn="frozen")
    bn = m.stage4[0].bn1
    before = bn.running_mean.clone()
    m.train()
    m(torch.randn(8, 3, 16, 16) * 3 + 1).sum().backward()
    assert torch.equal(bn.running_mean, before) and bn.weight.requires_grad and bn.weight.grad is not None
    with pytest.raises(Exception, match="--bn must be one of"):
        set_trainable(m, spec_of("resnet_small"), "fine-tune", bn="batch")


def test_auto_backbone_takes_imagenet_weights_found_here(settings, monkeypatch):
    from neuralab.errors import ConfigError
    from neuralab.train.transfer import resolve_pretrained

    monkeypatch.setenv("TORCH_HOME", str(settings.weights_dir.parent / "torch"))
    opts, about = resolve_pretrained(TransferOptions(backbone="auto"), settings)
    assert "weights API" in about and opts.backbone == "resnet18"  # will download
    settings.weights_dir.mkdir(parents=True)
    torch.save(create_model("mobilenet_v2", (3, 32, 32), 1000).state_dict(),
               settings.weights_dir / "mobilenet_v2_imagenet_tflite_dequant.pth")
    asked = TransferOptions(backbone="auto")
    opts, about = resolve_pretrained(asked, settings)
    assert opts.backbone == "mobilenet_v2" and opts.weights.endswith("tflite_dequant.pth") and "TFLite" in about
    assert opts.mean == [0.5, 0.5, 0.5] and opts.std == [0.5, 0.5, 0.5]
    assert asked.backbone == "auto"  # the options given are not changed behind the caller's back
    named, _ = resolve_pretrained(TransferOptions(backbone="resnet34"), settings)  # never swapped for another
    assert (named.backbone, named.weights) == ("resnet34", "imagenet")
    with pytest.raises(ConfigError, match="name the backbone"):
        resolve_pretrained(TransferOptions(backbone="auto", weights="none"), settings)


def test_resize_images_shorter_side_and_crop():
    x = np.random.default_rng(0).integers(0, 256, (3, 3, 20, 40), dtype=np.uint8)
    assert resize_images(x, 10).shape == (3, 3, 10, 10)


@pytest.fixture
def folder_data(settings, tmp_path):
    root = write_image_folder(tmp_path / "cd", per_class=24, size=(16, 16))
    return load_dataset(f"imagefolder:{root}", settings)


def test_three_strategies_end_to_end_and_whole_model_checkpoints(folder_data, settings, tmp_path):
    from neuralab.train.pretrain import PretrainConfig, pretrain_on

    pre_run = Run.create(settings.runs_dir, "pretrain")
    pretrain_on(folder_data, PretrainConfig(epochs=1, batch_size=16), pre_run, settings)
    weights = weights_file(pre_run)
    opts = TransferOptions(backbone="resnet_small", weights=weights, epochs=2, head_epochs=1, batch_size=16,
                           augment="flip")
    pre = Preprocess((3, 16, 16), (0.5,) * 3, (0.25,) * 3, 255.0, 16)
    data = prepare(folder_data, pre, per_class=10)
    assert np.bincount(data.train.y).tolist() == [10, 10]
    for strategy in ("feature-extraction", "fine-tune", "scratch"):
        run = Run.create(settings.runs_dir, strategy)
        outcome, model = run_strategy(strategy, data, opts, settings, run, pre)
        assert 0 <= outcome.accuracy <= 1 and outcome.strategy == strategy
        assert run.summary().details["strategy"] == strategy
        # The checkpoint is a whole image model that rebuilds without the pretraining file, and serves photos
        # with the preprocessing it was trained with.
        loaded, card = load_model(run.path)
        assert card.architecture == "resnet_small" and card.args == {"pretrained": "none"}
        assert card.preprocess == pre and card.extra["strategy"] == strategy
        x = torch.from_numpy(data.test.x).float() / 255
        x = (x - 0.5) / 0.25
        with torch.no_grad():
            got = loaded(x).argmax(1).numpy()
        acc = float((got == data.test.y).mean())
        if strategy == "feature-extraction":  # folded head == the head trained on cached features
            # (torchmetrics reports accuracy in float32; 1e-6 is far below one image out of 40)
            assert acc == pytest.approx(outcome.accuracy, abs=1e-6)
        assert np.array_equal(got, model.eval()(x).argmax(1).detach().numpy())
