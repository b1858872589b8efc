"""Export a detector to ONNX (TorchScript-based exporter, `dynamo=False`) and check ONNX Runtime against PyTorch.

The exported graph takes one float image `(3, H, W)` in [0, 1] (any H, W: the model's own resize and
normalization are inside it) and returns `boxes (n, 4)`, `scores (n,)`, `labels (n,)` after the model's score
threshold and NMS. The check runs both on real (generated) images and compares the boxes above a score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from neuralab.errors import NeuralabError


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
