"""Detection inference latency on a CPU: SSDLite320/MobileNetV3 in PyTorch vs ONNX Runtime, same process.

Batch 1, a generated 320x320 shapes image (the model's own size), N timed runs after warm-up, both engines limited
to the same thread count. Parity of the two outputs is checked first (`compare_onnx`).

    python benchmarks/detect_speed.py [--threads 2] [--runs 30] [--model ssdlite320_mobilenet_v3_large]

Last line: `ratio: <PyTorch ms / ONNX Runtime ms>` (above 1: ONNX Runtime is faster).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from neuralab.data.detection import generate
from neuralab.tasks.detection_export import export_detector_onnx, onnx_session
from neuralab.models.detectors import DETECTORS, build_detector


def timed(fn, runs: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ssdlite320_mobilenet_v3_large")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    size = DETECTORS.get(args.model).image_size
    torch.manual_seed(0)
    model, _ = build_detector(args.model, 90)  # COCO's label space; random weights (latency does not depend on them)
    for p in model.parameters():
        if p.dim() == 1:  # spread scores so the parity check sees a defined order
            torch.nn.init.normal_(p, 0, 0.05)
    split, _ = generate("shapes", 2, size, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        info = export_detector_onnx(model.eval(), Path(tmp) / "det.onnx", size, check_images=list(split.images),
                                    score=0.3)
        sess = onnx_session(info["path"], threads=args.threads)
        x = torch.from_numpy(split.images[0]).float().div_(255)
        with torch.no_grad():
            pt_ms = timed(lambda: model([x]), args.runs)
        feed = {"image": x.numpy()}
        ort_ms = timed(lambda: sess.run(None, feed), args.runs)
    print(f"model: {args.model}, input 3x{size}x{size}, batch 1, {args.threads} threads, median of {args.runs} runs")
    print(f"parity: {info['check']}")
    print(f"pytorch: {pt_ms:.1f} ms")
    print(f"onnxruntime: {ort_ms:.1f} ms")
    print(f"ratio: {pt_ms / ort_ms:.2f}")


if __name__ == "__main__":
    main()
