"""Detection data: COCO/VOC parsing with every kind of bad annotation, generated sets, box-safe augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuralab.data import load_dataset
from neuralab.data.detection import DetDataset, check_box, generate
from neuralab.errors import DataError
from tests.detect.helpers import write_coco, write_voc


def test_coco_folder_loads_with_exact_boxes(tmp_path):
    d = load_dataset(f"coco:{write_coco(tmp_path / 'c')}")
    assert isinstance(d, DetDataset) and d.classes == ["cat", "dog"] and d.skipped == {}
    assert sum(len(s) for s in d.splits().values()) == 3
    for s in d.splits().values():
        np.testing.assert_allclose(s.boxes[0], [[10, 8, 30, 28]])
        assert s.images.shape[1:] == (3, 48, 64)


def test_coco_image_size_scales_boxes(tmp_path):
    d = load_dataset(f"coco:{write_coco(tmp_path / 'c')}", image_size=32)
    np.testing.assert_allclose(d.train.boxes[0], [[5, 16 / 3, 15, 56 / 3]], rtol=1e-5)
    assert d.train.images.shape[1:] == (3, 32, 32)


def test_coco_bad_json_is_an_error_naming_the_file(tmp_path):
    root = write_coco(tmp_path / "c")
    (root / "annotations.json").write_text("{not json")
    with pytest.raises(DataError, match="annotations.json is not valid JSON"):
        load_dataset(f"coco:{root}")


def test_coco_without_categories_is_an_error(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    (root / "annotations.json").write_text('{"images": []}')
    with pytest.raises(DataError, match="missing 'categories'"):
        load_dataset(f"coco:{root}")


def test_coco_bad_boxes_and_missing_images_are_skipped_and_counted(tmp_path):
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 8, 20, 20]},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [50, 8, 40, 20]},  # outside the 64 px width
            {"id": 3, "image_id": 2, "category_id": 2, "bbox": [10, 8, 0, 20]},  # zero area
            {"id": 4, "image_id": 3, "category_id": 7, "bbox": [10, 8, 5, 5]}]  # unknown category
    root = write_coco(tmp_path / "c", anns, images=4)
    (root / "images" / "im3.png").unlink()
    with pytest.warns(UserWarning, match="skipped"):
        d = load_dataset(f"coco:{root}", val_fraction=0.0)
    assert d.skipped == {"outside image": 1, "zero area": 1, "unknown category": 1, "missing image": 1}
    assert len(d.train) == 3 and sum(len(b) for b in d.train.boxes) == 1


def test_check_box_clips_rounding_but_refuses_real_overflow():
    box, why = check_box([-0.5, 0, 64.4, 48], 64, 48)
    np.testing.assert_allclose(box, [0, 0, 64, 48]) and why == ""
    assert check_box([0, 0, 70, 10], 64, 48) == (None, "outside image")
    assert check_box([5, 5, 5, 9], 64, 48) == (None, "zero area")


def test_voc_folder_loads_with_zero_based_boxes(tmp_path):
    d = load_dataset(f"voc:{write_voc(tmp_path / 'v')}", val_fraction=0.0)
    assert d.classes == ["cat"]
    np.testing.assert_allclose(d.train.boxes[0], [[10, 8, 30, 28]])


def test_voc_unknown_class_and_outside_box_are_counted(tmp_path):
    root = write_voc(tmp_path / "v", [("cat", (11, 9, 30, 28)), ("bird", (1, 1, 5, 5)), ("cat", (1, 1, 99, 5))])
    with pytest.warns(UserWarning, match="skipped"):
        d = load_dataset(f"voc:{root}", classes=["cat"], val_fraction=0.0)
    assert d.skipped == {"unknown class": 3, "outside image": 3}


def test_voc_malformed_xml_is_an_error_naming_the_file(tmp_path):
    root = write_voc(tmp_path / "v")
    (root / "Annotations" / "im1.xml").write_text("<annotation><object>")
    with pytest.raises(DataError, match="im1.xml is not valid XML"):
        load_dataset(f"voc:{root}")


@pytest.mark.parametrize("kind", ["shapes", "digits"])
def test_generated_boxes_enclose_their_objects(kind):
    split, classes = generate(kind, 6, 64, seed=3)
    for im, boxes, labels in zip(split.images, split.boxes, split.labels):
        assert len(boxes) >= 1 and labels.max() < len(classes)
        assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 64).all() and (boxes[:, 2:] > boxes[:, :2]).all()


def test_generated_datasets_are_registered_and_split():
    d = load_dataset("shapes-det", n_samples=20, image_size=48)
    assert d.classes == ["circle", "square", "triangle"] and d.train.images.shape[1:] == (3, 48, 48)
    assert len(d.train) + len(d.val) + len(d.test) == 20


def test_more_training_images_leave_validation_and_test_as_they_are():
    d = load_dataset("shapes-det", n_samples=20, image_size=32)
    big = load_dataset("shapes-det", n_samples=20, image_size=32, n_train=40)
    assert len(big.train) == 40 and "40 training" in big.source
    np.testing.assert_array_equal(big.train.images[:len(d.train)], d.train.images)  # the default split is a prefix
    for a, b in ((d.val, big.val), (d.test, big.test)):
        np.testing.assert_array_equal(a.images, b.images)
        assert all(np.array_equal(x, y) for x, y in zip(a.boxes, b.boxes))


# -- box-safe augmentation ----------------------------------------------------------------------------------
def _object_box(image: torch.Tensor) -> list[float]:
    ys, xs = torch.nonzero(image[0] > 0.5, as_tuple=True)
    return [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]


def test_flip_moves_boxes_with_the_object_and_twice_is_identity():
    from neuralab.data.detection_augment import hflip

    image = torch.zeros(3, 20, 30)
    image[:, 4:10, 3:12] = 1
    boxes = torch.tensor([[3.0, 4.0, 12.0, 10.0]])
    f_im, f_boxes = hflip(image, boxes)
    assert f_boxes[0].tolist() == _object_box(f_im) == [18, 4, 27, 10]
    b_im, b_boxes = hflip(f_im, f_boxes)
    assert torch.equal(b_im, image) and torch.equal(b_boxes, boxes)


def test_zoom_out_boxes_still_enclose_the_object():
    from neuralab.data.detection_augment import zoom_out

    image = torch.zeros(3, 40, 40)
    image[:, 8:24, 16:32] = 1
    im, boxes = zoom_out(image, torch.tensor([[16.0, 8.0, 32.0, 24.0]]), 0.5, torch.Generator().manual_seed(0))
    got = _object_box(im)
    assert all(abs(a - b) <= 1 for a, b in zip(boxes[0].tolist(), got))
