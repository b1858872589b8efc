"""What a pretrained trunk buys a detector, and detection throughput on a CPU.

Default: SSDLite on MobileNetV2 (the SSDLite paper's detector) trains on the same generated shapes twice per seed,
once with the ImageNet trunk (`--weights-backbone imagenet`: torchvision's file or the known checkpoint in the
weights folder, e.g. ../shared/weights/mobilenet_v2_imagenet_tflite_dequant.pth, with its own preprocessing) and
once from random weights, at the same budget of training images seen (no time budget ends either run), through
`train_detector` as `neuralab train-detector` runs it. It prints, per trunk and seed, test mAP@0.5, training and
inference images/s, and the mean over seeds.
`--throughput`: times N training steps and inference of one detector (no mAP). `--full`: the 20-minute recipe
(`SHAPES_DET_RECIPE`, SSDLite/MobileNetV3 from random weights) and its test mAP.

    python benchmarks/detect_train.py [--images 2000] [--epochs 2] [--seeds 2] [--image-size 96] [--threads 2]
    python benchmarks/detect_train.py --throughput [--model M] [--batch-size 16] [--steps 10]
    python benchmarks/detect_train.py --full [--budget-min 18]

Needs NEURALAB_WEIGHTS (or --weights-dir) with ImageNet MobileNetV2 weights for the default mode.
Last line: `ratio: <pretrained-trunk test mAP@0.5 / random-trunk test mAP@0.5>` at the same images seen, mean over
seeds (`--throughput`, `--full`: inference images/s / training images/s).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import shutil
import statistics

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


def trunks(args: argparse.Namespace) -> float:
    """Pretrained vs random trunk at the same images seen; returns the ratio of mean test mAP@0.5."""
    tmp = tempfile.mkdtemp(prefix="detect-trunks-")
    base = DetectTrainConfig(model="ssdlite320_mobilenet_v2", image_size=args.image_size, n_samples=400,
                             train_images=args.images, epochs=args.epochs, batch_size=args.batch_size,
                             lr=SHAPES_DET_RECIPE["lr"], min_scale=1.0)
    print(f"model: {base.model}, shapes-det {args.image_size}x{args.image_size}, {args.images} fresh training "
          f"images x {args.epochs} epochs each, batch {args.batch_size}, {args.threads} threads, "
          f"40 test images")
    maps: dict[str, list[float]] = {"imagenet": [], "none": []}
    settings = Settings.resolve(runs_dir=tmp, weights_dir=args.weights_dir)
    try:
        for seed in range(args.seed, args.seed + args.seeds):
            for source in maps:  # interleaved: load from other programs hits both trunks alike
                cfg = base.replace(weights_backbone=source, seed=seed)
                _, r, _ = train_detector(cfg, settings, log=lambda *a: None)
                maps[source].append(r.test["map50"])
                print(f"{'ImageNet' if source == 'imagenet' else 'random':8s} trunk, seed {seed}: test mAP@0.5 "
                      f"{r.test['map50']:.3f} (mAP {r.test['map']:.3f}), {r.images_seen:,} images seen, train "
                      f"{r.train_images_per_s:.1f} images/s, inference {r.infer_images_per_s:.1f} images/s"
                      + (f", {r.health.sentence()}" if r.health.collapsed else "")
                      + f"; trunk: {r.trunk}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for source, values in maps.items():
        sd = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
        print(f"mean {'ImageNet' if source == 'imagenet' else 'random'} trunk: {statistics.mean(values):.3f}{sd} "
              f"({len(values)} seed(s))")
    return statistics.mean(maps["imagenet"]) / max(statistics.mean(maps["none"]), 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ssdlite320_mobilenet_v3_large", help="--throughput: the detector")
    ap.add_argument("--image-size", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10, help="--throughput: training steps timed")
    ap.add_argument("--throughput", action="store_true", help="time training steps and inference of --model")
    ap.add_argument("--images", type=int, default=2000, help="trunks: fresh training images per epoch")
    ap.add_argument("--epochs", type=int, default=1, help="trunks: epochs per run")
    ap.add_argument("--seeds", type=int, default=2, help="trunks: seeds per trunk")
    ap.add_argument("--weights-dir", help="trunks: folder with the ImageNet MobileNetV2 (default: $NEURALAB_WEIGHTS)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--full", action="store_true", help="train with the 20-minute recipe and report test mAP")
    ap.add_argument("--budget-min", type=float, default=SHAPES_DET_RECIPE["time_budget_min"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs-dir", help="--full: keep the run here (default: a temporary folder)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not (args.full or args.throughput):
        print(f"ratio: {trunks(args):.2f}")
        return
    train_ips, infer_ips = full(args) if args.full else steps(args)
    print(f"train: {train_ips:.1f} images/s")
    print(f"inference: {infer_ips:.1f} images/s")
    print(f"ratio: {infer_ips / train_ips:.2f}" if train_ips else "ratio: nan")


if __name__ == "__main__":
    main()
