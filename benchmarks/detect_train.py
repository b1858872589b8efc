"""Detection training and inference throughput on a CPU: SSDLite/MobileNetV3 on generated shapes.

Times N training steps (forward + backward + AdamW, box-safe augmentation included) and inference over the same
images, with the same code as `neuralab train-detector`.

    python benchmarks/detect_train.py [--image-size 96] [--batch-size 16] [--steps 10] [--threads 2]

Last line: `ratio: <inference images/s / training images/s>`.
"""

from __future__ import annotations

import argparse
import time

import torch

from neuralab.data.detection import generate
from neuralab.models.detectors import build_detector
from neuralab.train.detection import DetectTrainConfig, predict, train_epoch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ssdlite320_mobilenet_v3_large")
    ap.add_argument("--image-size", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n = args.batch_size * args.steps
    split, classes = generate("shapes", n, args.image_size, seed=0)
    model, _ = build_detector(args.model, len(classes), image_size=args.image_size)
    cfg = DetectTrainConfig(image_size=args.image_size, batch_size=args.batch_size, min_scale=0.75)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    train_epoch(model, opt, split.take(range(args.batch_size)), cfg, gen, 0, 10, 0)  # warm-up step
    t = time.perf_counter()
    train_epoch(model, opt, split, cfg, gen, 0, args.steps, 1)
    train_ips = n / (time.perf_counter() - t)
    t = time.perf_counter()
    predict(model, split, args.batch_size)
    infer_ips = n / (time.perf_counter() - t)
    print(f"model: {args.model}, {args.image_size}x{args.image_size}, batch {args.batch_size}, {args.threads} threads, "
          f"{n} images")
    print(f"train: {train_ips:.1f} images/s")
    print(f"inference: {infer_ips:.1f} images/s")
    print(f"ratio: {infer_ips / train_ips:.2f}")


if __name__ == "__main__":
    main()
