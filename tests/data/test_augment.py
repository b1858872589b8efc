import pytest
import torch

from neuralab.data import augment
from neuralab.errors import ConfigError


def batch(n=16, c=3, h=8, w=8):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(0))


def g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_flip_twice_with_the_same_draws_is_identity_and_flips_some():
    x = batch()
    once = augment.flip(x, g(1))
    assert torch.equal(augment.flip(once, g(1)), x)
    flipped = [(once[i] == x[i].flip(-1)).all().item() for i in range(len(x))]
    kept = [(once[i] == x[i]).all().item() for i in range(len(x))]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


def test_translate_keeps_shape_and_moves_content():
    x = batch()
    y = augment.translate(x, g(), pad=2)
    assert y.shape == x.shape and not torch.equal(x, y)
    assert torch.equal(augment.translate(x, g(), pad=0), x)


def test_translate_is_a_crop_of_the_padded_image():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    y = augment.translate(x, g(5), pad=1, mode="constant")
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    windows = [padded[..., i:i + 4, j:j + 4] for i in range(3) for j in range(3)]
    assert any(torch.equal(y, wdw) for wdw in windows)


def test_cutout_zeroes_exactly_one_square_inside_the_image():
    x = torch.ones(8, 1, 16, 16)
    y = augment.cutout(x, g(), size=4)
    zeros = (y == 0).sum(dim=(1, 2, 3))
    assert y.shape == x.shape and (zeros <= 16).all() and (zeros > 0).all()


def test_rotate_zero_degrees_is_identity_and_shape_kept():
    x = batch()
    assert torch.allclose(augment.rotate(x, g(), degrees=0.0), x, atol=1e-5)
    assert augment.rotate(x, g(), degrees=30).shape == x.shape


def test_build_from_names():
    x = batch()
    assert torch.equal(augment.build("none")(x, g()), x)
    assert augment.build("flip,crop")(x, g()).shape == x.shape
    with pytest.raises(Exception, match="unknown augmentation 'flipp'"):
        augment.build("flipp")


def test_augment_is_batched_not_per_sample():
    """Time-free check: each augmentation is a fixed number of tensor ops, whatever the batch size."""
    from torch.profiler import ProfilerActivity, profile

    def count(n):
        with profile(activities=[ProfilerActivity.CPU]) as p:
            augment.build("flip,crop,cutout")(batch(n), g())
        return len(p.events())

    assert count(64) == count(4)


def test_spec_sets_an_augmentations_number():
    """`crop=2` translates by at most 2 px (digits), the bare name keeps its default of 4 (CIFAR)."""
    x = torch.zeros(256, 1, 12, 12)
    x[:, :, 5:7, 5:7] = 1.0  # a 2x2 square in the middle
    def shifts(spec):
        out = augment.build(spec)(x, g())
        ys, xs = torch.nonzero(out[:, 0] > 0.5, as_tuple=True)[1:]
        return (ys - 5).abs().max().item(), (xs - 5).abs().max().item()

    assert max(shifts("crop=2")) <= 3 and max(shifts("crop")) >= 4  # a 2x2 square: offsets 0..1 plus the shift


def test_bad_spec_values_say_what_is_expected():
    with pytest.raises(ConfigError, match=r"crop takes a number, e.g. crop=2. Received: 'crop=x'"):
        augment.build("crop=x")
    with pytest.raises(ConfigError, match="flip takes no value"):
        augment.build("flip=1")


def test_parse_gives_names_and_numbers():
    assert augment.parse("flip, crop=2,rotate=7.5") == [("flip", None), ("crop", 2), ("rotate", 7.5)]
    assert augment.parse("none") == [] == augment.parse(None)
