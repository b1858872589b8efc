import numpy as np
import pytest

from neuralab.data.base import Split, channel_stats
from neuralab.errors import DataError


def test_concat_keeps_order_and_pairs():
    a = Split(np.arange(6).reshape(3, 2), np.array([0, 1, 2]))
    b = Split(np.arange(6, 10).reshape(2, 2), np.array([3, 4]))
    joined = a.concat(b)
    assert joined.x.tolist() == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert joined.y.tolist() == [0, 1, 2, 3, 4]


def test_concat_of_different_shapes_is_a_clear_error():
    a = Split(np.zeros((2, 3, 8, 8)), np.zeros(2))
    with pytest.raises(DataError, match="cannot join"):
        a.concat(Split(np.zeros((2, 3, 4, 4)), np.zeros(2)))


def test_channel_stats_of_uint8_images_match_float_arithmetic():
    """The integer sums must give the mean/std that float64 arithmetic on [0, 1] values gives, per channel."""
    x = np.random.default_rng(0).integers(0, 256, (300, 3, 5, 7), dtype=np.uint8)
    x[:, 2] = 17  # a constant channel: no negative variance from rounding
    mean, std = channel_stats(x)
    ref = x.transpose(1, 0, 2, 3).reshape(3, -1) / 255.0
    np.testing.assert_allclose(mean, ref.mean(1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(std[:2], ref.std(1)[:2], rtol=1e-10)
    assert std[2] < 1e-5
    f_mean, f_std = channel_stats(x.astype(np.float32))  # other dtypes: the same [0, 255] units
    np.testing.assert_allclose(f_mean, mean, atol=1e-6)
    np.testing.assert_allclose(f_std[:2], std[:2], rtol=1e-5)
