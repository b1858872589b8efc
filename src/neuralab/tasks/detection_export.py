"""Export a detector to ONNX (TorchScript-based exporter, `dynamo=False`) and check ONNX Runtime against PyTorch;
or to int8 ONNX, checked by the mAP of its boxes with the fp32 model's boxes as the truth.

The exported graph takes one float image `(3, H, W)` in [0, 1] (any H, W: the model's own resize and
normalization are inside it) and returns `boxes (n, 4)`, `scores (n,)`, `labels (n,)` after the model's score
threshold and NMS. The check runs both on real (generated) images and compares the boxes above a score.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from neuralab.data.detection import DetSplit
from neuralab.errors import NeuralabError
from neuralab.tasks.precision import ExportOptions, guard
from neuralab.tasks.quantize import Calibration, quantize_int8
from neuralab.train.detection import box_map, targets_of


def export_detector_onnx(model: nn.Module, path: str | Path, image_size: int | tuple[int, int] = 320,
                         opset: int = 17, check_images: Sequence[np.ndarray] | None = None,
                         score: float = 0.3, atol: float = 1e-2) -> dict[str, Any]:
    """Write `path` (.onnx); with `check_images` ((3, H, W) uint8 arrays) also compare ONNX Runtime with PyTorch.
    Returns {"path", "opset", "check": {...} or None}."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    model = model.eval()
    example = torch.rand(3, h, w)
    with torch.no_grad():
        torch.onnx.export(model, ([example],), str(path), dynamo=False, opset_version=opset,
                          input_names=["image"], output_names=["boxes", "scores", "labels"],
                          dynamic_axes={"image": {1: "height", 2: "width"}, "boxes": {0: "n"}, "scores": {0: "n"},
                                        "labels": {0: "n"}})
    check = compare_onnx(model, path, check_images, score, atol) if check_images is not None else None
    return {"path": str(path), "opset": opset, "check": check}


def onnx_session(path: str | Path, threads: int = 0) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@torch.no_grad()
def compare_onnx(model: nn.Module, path: str | Path, images: Sequence[np.ndarray], score: float = 0.3,
                 atol: float = 1e-2, min_match: float = 0.98) -> dict[str, Any]:
    """Run PyTorch and ONNX Runtime on each image and match their detections above `score`: same label, box
    within `atol` x image size, score within 1e-3. Near-tied scores may swap places at the top-k/NMS cut, so a
    fraction `min_match` of each side must find a partner; below that, a NeuralabError names the image."""
    sess = onnx_session(path)
    worst, fractions = 0.0, []
    for i, im in enumerate(images):
        x = torch.from_numpy(np.ascontiguousarray(im)).float().div_(255)
        ref = model([x])[0]
        boxes, scores, labels = sess.run(None, {"image": x.numpy()})
        t = ref["scores"].numpy() >= score
        o = scores >= score
        tb, ts, tl = ref["boxes"].numpy()[t], ref["scores"].numpy()[t], ref["labels"].numpy()[t]
        ob, os_, ol = boxes[o], scores[o], labels[o]
        size = max(im.shape[1:])
        if len(tb) and len(ob):
            dist = np.abs(tb[:, None, :] - ob[None, :, :]).max(-1) / size
            ok = (dist <= atol) & (tl[:, None] == ol[None, :]) & (np.abs(ts[:, None] - os_[None, :]) < 1e-3)
            matched = min(ok.any(1).mean(), ok.any(0).mean())
            worst = max(worst, float(np.where(ok, dist, 0).max()))
        else:
            matched = 1.0 if len(tb) == len(ob) else 0.0
        fractions.append(float(matched))
        if matched < min_match:
            raise NeuralabError(f"ONNX Runtime and PyTorch disagree on image {i}: {len(ob)} vs {len(tb)} detections "
                                f"above score {score}, only {100 * matched:.1f}% match (label, box within "
                                f"{atol} x image size, score within 1e-3)")
    return {"images": len(images), "matched": fractions, "max_box_diff": worst, "score": score}


def _unit(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image, dtype=np.float32) / np.float32(255)


def detections(path: str | Path, images: Sequence[np.ndarray]) -> list[dict[str, torch.Tensor]]:
    """ONNX Runtime's boxes, scores and labels for each (3, H, W) uint8 image, as torchmetrics takes them."""
    sess = onnx_session(path)
    out = []
    for im in images:
        boxes, scores, labels = sess.run(None, {"image": _unit(im)})
        out.append({"boxes": torch.from_numpy(boxes), "scores": torch.from_numpy(scores),
                    "labels": torch.from_numpy(labels).long()})
    return out


def export_detector_int8(model: nn.Module, out: Path, image_size: int, calibration: Sequence[np.ndarray],
                         test: DetSplit, options: ExportOptions, dataset: str, score: float = 0.3) -> dict[str, Any]:
    """int8 ONNX: the convolutions quantized (static QDQ, calibrated on `calibration` images), the box decoding and
    NMS left in fp32. Accepted when the mAP@0.5 of its detections on `test`, with the fp32 model's boxes scoring at
    least `score` as the truth, is within `options.max_drop` points of 100%; the test mAP@0.5 of both against the
    real boxes is recorded beside it."""
    with tempfile.TemporaryDirectory(prefix="neuralab-int8-") as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        export_detector_onnx(model, fp32, image_size, check_images=list(test.images[:4]), score=score)
        ref = detections(fp32, test.images)
        truth = [{"boxes": r["boxes"][r["scores"] >= score], "labels": r["labels"][r["scores"] >= score]}
                 for r in ref]
        boxes = sum(len(t["boxes"]) for t in truth)
        where = f"the {len(test)} test images of {dataset}"
        if not boxes:
            raise NeuralabError(f"the fp32 detector finds no box scoring {score} or more on {where}: there is "
                                f"nothing to check int8 against; train it longer")
        quant = quantize_int8(fp32, int8, Calibration([{"image": _unit(im)} for im in calibration]),
                              options.calibration, op_types=("Conv",), symbolic_shapes=False)
        got = detections(int8, test.images)
        labelled = targets_of(test, list(range(len(test))))
        check = guard("map50_vs_fp32", 1.0, box_map(got, truth)["map50"], "int8", options, where, split="test",
                      dataset=dataset, images=len(test), score=score, fp32_boxes=boxes,
                      test_map50_fp32=box_map(ref, labelled)["map50"], test_map50_int8=box_map(got, labelled)["map50"])
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(int8, out)
    return {"parity": "the fp32 ONNX model it was quantized from matched PyTorch's detections",
            "quantization": {**quant, "calibration_examples": len(calibration), "seed": options.seed}, "check": check}
