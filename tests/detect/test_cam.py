"""Class activation maps and Grad-CAM: exact on networks that end in global pooling + linear, checked against a hand
computation and finite differences, refused where CAM does not hold, and turned into boxes that find a bright
object."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from neuralab.errors import ConfigError
from neuralab.models.cam import box_from_map, cam, grad_cam, upsample
from neuralab.tasks.explain import Classifier, localize


def calibrated_mobilenet_v2(classes: int = 5) -> nn.Module:
    """A random MobileNetV2 whose batch norms hold the statistics of one random batch: freshly initialised ones
    shrink the maps to ~1e-9, where any comparison would pass."""
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(num_classes=classes)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # a cumulative average: one batch sets the statistics
    nn.init.normal_(model.classifier[1].weight, 0, 0.5)
    nn.init.normal_(model.classifier[1].bias, 0, 0.5)
    with torch.no_grad():
        model.train()(torch.randn(8, 3, 64, 64))
    return model.eval()


@pytest.fixture(scope="module")
def mobilenet() -> nn.Module:
    return calibrated_mobilenet_v2()


def test_cam_mean_plus_bias_is_the_logit(mobilenet):
    x = torch.randn(3, 3, 64, 64)
    maps = cam(mobilenet, x, k=5)
    with torch.no_grad():
        logits = mobilenet(x)
    assert maps.maps.shape == (3, 5, 2, 2) and logits.abs().max() > 0.1  # a 64 px input: 2x2 maps at stride 32
    bias = mobilenet.classifier[1].bias[maps.classes]
    torch.testing.assert_close(maps.maps.mean((2, 3)) + bias, logits.gather(1, maps.classes), rtol=1e-4, atol=1e-5)
    assert torch.equal(maps.classes[:, 0], logits.argmax(1))  # the top class first


def test_cam_of_given_classes_and_the_top_k():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 3)).eval()
    x = torch.randn(2, 3, 8, 8)
    maps = cam(model, x, classes=torch.tensor([[2, 0], [1, 1]]))
    with torch.no_grad():  # by hand: M_c = sum_k w_ck A_k with A the ReLU's output
        a = torch.relu(model[0](x))
        want = torch.einsum("ck,nkhw->nchw", model[4].weight, a)
    assert maps.layer == "1"
    torch.testing.assert_close(maps.maps, torch.stack([want[0, [2, 0]], want[1, [1, 1]]]))
    assert cam(model, x, k=2).maps.shape == (2, 2, 8, 8)


def test_a_network_not_ending_in_pooling_and_linear_is_refused_with_grad_cam_named():
    torch.manual_seed(0)
    hidden = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                           nn.Linear(6, 6), nn.Tanh(), nn.Linear(6, 4))  # an MLP after the pooling
    maxpooled = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(),
                              nn.Linear(6, 4))  # max, not mean: logits != b + mean(M)
    flat = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 8 * 8, 4))
    no_linear = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    tiny = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(),
                         nn.Linear(6, 4))
    with torch.no_grad():  # logits ~1e-5, as an untrained network's: the check is relative to their scale
        tiny[4].weight.mul_(1e-4), tiny[4].bias.zero_()
    x = torch.rand(2, 3, 8, 8)
    for model in (hidden, maxpooled, tiny, flat, no_linear):
        with pytest.raises(ConfigError, match="Grad-CAM"):
            cam(model, x)
        assert grad_cam(model, x).maps.shape[2:] == (8, 8)  # Grad-CAM takes them all


def test_grad_cam_on_a_cam_network_is_the_clipped_cam_over_the_map_size(mobilenet):
    x = torch.randn(2, 3, 64, 64)
    c, g = cam(mobilenet, x, k=3), grad_cam(mobilenet, x, k=3)
    assert torch.equal(c.classes, g.classes) and c.layer == g.layer
    h, w = c.maps.shape[2:]
    torch.testing.assert_close(g.maps, torch.relu(c.maps) / (h * w), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(g.weights, c.weights / (h * w), rtol=1e-4, atol=1e-7)


def test_grad_cam_weights_match_finite_differences():
    """alpha_ck = mean_xy d logit_c / d A_k(x, y): adding eps to all of channel k moves the logit by eps*H*W*alpha."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 3, stride=2, padding=1),
                          nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3 * 3 * 3, 2)).double().eval()
    x = torch.randn(1, 3, 12, 12, dtype=torch.float64)
    maps = grad_cam(model, x, classes=torch.tensor([[1]]))
    assert maps.layer == "4"  # the last map larger than 1x1: the max-pooled one (3x3)
    shift: dict[str, float | int] = {"eps": 0.0, "k": 0}
    hook = model[4].register_forward_hook(lambda m, i, o: o + shift["eps"] * (
        torch.arange(o.shape[1]) == shift["k"]).to(o.dtype).view(1, -1, 1, 1))
    eps, fd = 1e-6, []
    with torch.no_grad():
        for k in range(3):
            logit = []
            for sign in (1, -1):
                shift.update(eps=sign * eps, k=k)
                logit.append(float(model(x)[0, 1]))
            fd.append((logit[0] - logit[1]) / (2 * eps) / 9)  # 9 = 3x3 positions
    hook.remove()
    np.testing.assert_allclose(maps.weights[0, 0].numpy(), fd, rtol=1e-5, atol=1e-9)
    assert max(abs(v) for v in fd) > 1e-3  # not a vacuous comparison of zeros


def test_box_from_map_boxes_the_larger_of_two_blobs():
    m = np.zeros((40, 60), np.float32)
    m[5:10, 5:10] = 1.0  # small and brightest
    m[20:35, 30:55] = 0.6  # larger
    box, share = box_from_map(m)
    assert box == [30.0, 20.0, 55.0, 35.0] and share == pytest.approx(15 * 25 / (40 * 60))
    assert box_from_map(m, threshold=0.7)[0] == [5.0, 5.0, 10.0, 10.0]  # above 70% of the peak: only the small one
    assert box_from_map(np.zeros((8, 8))) is None and box_from_map(-np.ones((8, 8))) is None


def test_upsample_keeps_a_constant_map_and_sets_the_size():
    out = upsample(torch.full((2, 3), 0.5), 30, 20)
    assert out.shape == (30, 20) and np.allclose(out, 0.5)


def bright_square_classifier() -> Classifier:
    """Class 0 reads the brightness above mid-grey, seen through a 4x4 average pool: a CAM network whose map of
    class 0 is where the image is bright."""
    conv = nn.Conv2d(3, 1, 1)
    linear = nn.Linear(1, 2)
    with torch.no_grad():
        conv.weight.fill_(1.0), conv.bias.fill_(-1.5)  # inputs in [0, 1]: fires where R+G+B > 1.5
        linear.weight.copy_(torch.tensor([[10.0], [-10.0]])), linear.bias.zero_()
    model = nn.Sequential(nn.AvgPool2d(4), conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), linear).eval()
    return Classifier(model, ["bright", "dark"], (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (64, 64), "RGB", "test")


def iou(a: list[float], b: list[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h)


@pytest.mark.parametrize("method", ["cam", "gradcam"])
def test_boxes_from_the_maps_find_a_known_bright_object(method):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 60, (3, 90, 120), dtype=np.uint8)  # dark noise, at another size than the network's
    truth = [70.0, 20.0, 110.0, 65.0]
    image[:, 20:65, 70:110] = 230
    (found,), used = localize(bright_square_classifier(), [image], k=1, method=method)
    assert used == method and found[0].label == "bright" and found[0].probability > 0.9
    assert found[0].heat.shape == (90, 120)  # the map at the photo's own size
    assert iou(found[0].box, truth) >= 0.5, found[0].box
