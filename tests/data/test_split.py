import numpy as np
import pytest

from neuralab.data.base import Split
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
