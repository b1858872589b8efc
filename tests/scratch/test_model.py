import numpy as np
import pytest

from neuralab.scratch import Sequential, mlp


def test_save_load_round_trip_gives_identical_predictions(tmp_path):
    model = mlp(4, [8, 8], 3, activation="gelu", dropout=0.1, seed=3)
    x = np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32)
    json_path, npz_path = model.save(tmp_path / "model")
    assert json_path.exists() and npz_path.exists()
    again = Sequential.load(tmp_path / "model")
    assert again.config() == model.config() and again.dtype == np.float32
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    with np.load(npz_path, allow_pickle=False) as f:
        assert sorted(f.files) == sorted(name for name, _, _ in model.params())


def test_float64_flows_from_the_model():
    model = mlp(2, [4], 2, dtype="float64")
    assert all(p.dtype == np.float64 and g.dtype == np.float64 for _, p, g in model.params())
    assert model.forward(np.ones((3, 2), dtype=np.float32)).dtype == np.float64
    assert mlp(2, [4], 2).forward(np.ones((3, 2))).dtype == np.float32


def test_same_seed_same_weights_different_seed_different():
    a, b, c = mlp(3, [5], 2, seed=1), mlp(3, [5], 2, seed=1), mlp(3, [5], 2, seed=2)
    for (_, pa, _), (_, pb, _), (_, pc, _) in zip(a.params(), b.params(), c.params()):
        assert np.array_equal(pa, pb)
        if pa.ndim == 2:
            assert not np.array_equal(pa, pc)


def test_load_state_rejects_mismatched_weights():
    model = mlp(3, [5], 2)
    with pytest.raises(ValueError, match="Received"):
        model.load_state({"0.W": np.zeros((3, 5))})

