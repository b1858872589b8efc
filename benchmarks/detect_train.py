"""Detection training and inference throughput on a CPU: SSDLite/MobileNetV3 on generated shapes.

Default: times N training steps (forward + backward + AdamW, box-safe augmentation included) and inference over the
same images, with the same code as `neuralab train-detector`. `--full`: trains with the 20-minute recipe
(`SHAPES_DET_RECIPE`: random weights, 96x96, 10000 fresh training images, time budget) through `train_detector`
and prints the held-out test mAP@0.5 and mAP, the throughputs, and wall and CPU minutes.

    python benchmarks/detect_train.py [--image-size 96] [--batch-size 16] [--steps 10] [--threads 2]
    python benchmarks/detect_train.py --full [--budget-min 18] [--seed 0] [--threads 2]

Last line: `ratio: <inference images/s / training images/s>`.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from neuralab.data.detection import generate
from neuralab.models.detectors import build_detector
from neuralab.config import Settings
from neuralab.train.detection import (SHAPES_DET_RECIPE, DetectTrainConfig, evaluate, load_detection_data, predict,
                                      train_detector, train_epoch)


def steps(args: argparse.Namespace) -> tuple[float, float]:
    n = args.batch_size * args.steps
    split, classes = generate("shapes", n, args.image_size, seed=0)
    model, _ = build_detector(args.model, len(classes), image_size=args.image_size)
    cfg = DetectTrainConfig(image_size=args.image_size, batch_size=args.batch_size, min_scale=0.75)  # validated
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=True)
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
    return train_ips, infer_ips


def full(args: argparse.Namespace) -> tuple[float, float]:
    cfg = DetectTrainConfig.of(**{**SHAPES_DET_RECIPE, "time_budget_min": args.budget_min, "seed": args.seed})
    with tempfile.TemporaryDirectory() as tmp:
        _, r, model = train_detector(cfg, Settings.resolve(runs_dir=args.runs_dir or tmp))
        data = load_detection_data(cfg.dataset, Settings.resolve(), cfg.image_size)  # the default 60-image split
        default_test, _ = evaluate(model, data.test, cfg.batch_size)
    t = r.test
    print(f"model: {cfg.model}, random weights, {cfg.image_size}x{cfg.image_size}, batch {cfg.batch_size}, "
          f"{r.threads} threads, budget {cfg.time_budget_min:g} min")
    print(f"trained: {r.epochs} epochs, {r.steps} steps, {r.images_seen} images seen, stopped by {r.stopped_by}, "
          f"{r.minutes_to_trained:.1f} min")
    print(f"test mAP@0.5: {t['map50']:.3f} (mAP {t['map']:.3f}, {r.images['test']} images)")
    print(f"default split test mAP@0.5: {default_test['map50']:.3f} (mAP {default_test['map']:.3f}, "
          f"{len(data.test)} images)")
    print(f"minutes: {r.wall_minutes:.1f} wall, {r.cpu_minutes:.1f} CPU")
    return r.train_images_per_s, r.infer_images_per_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ssdlite320_mobilenet_v3_large")
    ap.add_argument("--image-size", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--full", action="store_true", help="train with the 20-minute recipe and report test mAP")
    ap.add_argument("--budget-min", type=float, default=SHAPES_DET_RECIPE["time_budget_min"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs-dir", help="--full: keep the run here (default: a temporary folder)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train_ips, infer_ips = full(args) if args.full else steps(args)
    print(f"train: {train_ips:.1f} images/s")
    print(f"inference: {infer_ips:.1f} images/s")
    print(f"ratio: {infer_ips / train_ips:.2f}" if train_ips else "ratio: nan")


if __name__ == "__main__":
    main()
