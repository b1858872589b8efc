import numpy as np
import pytest
import torch

from neuralab.data.base import Split
from neuralab.data.loader import BatchLoader


def images(n=10):
    rng = np.random.default_rng(0)
    return Split(rng.integers(0, 256, (n, 3, 4, 4), dtype=np.uint8), np.arange(n, dtype=np.int64))


def test_one_epoch_visits_every_sample_once_in_shuffled_order():
    loader = BatchLoader(images(10), batch_size=3, shuffle=True, seed=1)
    ys = torch.cat([y for _, y in loader])
    assert len(loader) == 4 and sorted(ys.tolist()) == list(range(10)) and ys.tolist() != list(range(10))
    assert len(BatchLoader(images(10), 3, drop_last=True)) == 3


def test_normalization_is_folded_correctly():
    split = images(4)
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    x, _ = next(iter(BatchLoader(split, 4, mean=mean, std=std)))
    want = (torch.from_numpy(split.x).double() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert x.dtype == torch.float32 and torch.allclose(x.double(), want, atol=1e-5)


def test_features_are_standardized_without_the_255_scale():
    split = Split(np.array([[1.0, 10.0], [3.0, 30.0]], np.float32), np.zeros(2, np.int64))
    x, _ = next(iter(BatchLoader(split, 2, mean=(2.0, 20.0), std=(1.0, 10.0))))
    assert torch.allclose(x, torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))


def test_same_seed_same_batches_and_state_resumes_the_stream():
    a = [y.tolist() for _ in range(2) for _, y in BatchLoader(images(), 4, shuffle=True, seed=3)]
    b = [y.tolist() for _ in range(2) for _, y in BatchLoader(images(), 4, shuffle=True, seed=3)]
    assert a == b
    la = BatchLoader(images(), 4, shuffle=True, seed=3)
    list(la)
    state = la.state_dict()
    second_epoch = [y.tolist() for _, y in la]
    lb = BatchLoader(images(), 4, shuffle=True, seed=99)
    lb.load_state_dict(state)
    assert [y.tolist() for _, y in lb] == second_epoch


def test_augmentation_runs_on_whole_batches():
    calls = []

    def aug(x, g):
        calls.append(x.shape[0])
        return x

    list(BatchLoader(images(10), 4, augment=aug))
    assert calls == [4, 4, 2]


def test_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size must be >= 1. Received: batch_size=0"):
        BatchLoader(images(), 0)


def test_resume_from_the_middle_of_an_epoch_repeats_the_rest_exactly():
    from neuralab.data.augment import build

    def make():
        return BatchLoader(images(10), 3, shuffle=True, seed=5, augment=build("flip"))

    ref = make()
    list(ref)  # epoch 1
    epoch2 = [(x.clone(), y.clone()) for x, y in ref]
    cut = make()
    list(cut)
    it = iter(cut)
    next(it)
    next(it)  # killed after two batches of epoch 2
    state = cut.state_dict()
    resumed = make()
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert len(rest) == 2
    for (xa, ya), (xb, yb) in zip(epoch2[2:], rest):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_ranks_split_each_global_batch_without_overlap():
    single = [(x, y) for x, y in BatchLoader(images(10), 4, shuffle=True, seed=2)]
    ranks = [[(x, y) for x, y in BatchLoader(images(10), 4, shuffle=True, seed=2, rank=r, world_size=2)]
             for r in range(2)]
    for i, (x, y) in enumerate(single):
        joined = torch.cat([ranks[0][i][1], ranks[1][i][1]])
        assert sorted(joined.tolist()) == sorted(y.tolist())
        assert torch.equal(ranks[1][i][0], x[1::2])


def test_subset_of_a_class_sorted_split_keeps_every_class():
    """Folder datasets come class by class: --limit-train must not train on the first class or two alone."""
    y = np.repeat(np.arange(10), 100)  # 0,0,...,9,9 as an image folder stores them
    split = Split(np.arange(1000, dtype=np.float32)[:, None], y)
    sub = split.subset(200)
    assert len(sub) == 200 and set(np.unique(sub.y)) == set(range(10))
    assert np.all(np.diff(sub.x[:, 0]) > 0)  # original order kept
    assert np.array_equal(split.subset(200).x, sub.x)  # the same subset every time
    assert split.subset(0) is split and split.subset(5000) is split
