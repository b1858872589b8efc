"""Load test of `neuralab serve`: ResNet-18 at 224x224, torch vs onnxruntime, with and without micro-batching.

    PYTHONPATH=src python benchmarks/serve_load.py --requests 2000 --concurrency 32

Last line: `ratio: <onnxruntime / torch throughput>` with micro-batching on.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import torch
import torchvision
from PIL import Image

from neuralab.train.checkpoint import save_model

ROOT = Path(__file__).resolve().parents[1]
MODEL = "bench-resnet18"  # registered here until the torchvision backbones land in neuralab.models


def register() -> None:
    from neuralab.models.registry import MODELS, register_model

    if MODEL not in MODELS:
        register_model(MODEL)(lambda input_shape, num_outputs: torchvision.models.resnet18(num_classes=num_outputs))


def make_run(folder: Path) -> Path:
    run = folder / "resnet18"
    meta = {"model": MODEL, "input_shape": [3, 224, 224], "num_outputs": 10,
            "task": "classification", "classes": [f"c{i}" for i in range(10)], "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225], "input_scale": 255.0}
    save_model(run / "checkpoints" / "model.safetensors", torchvision.models.resnet18(num_classes=10), meta)
    return run


def images(n: int = 16) -> list[bytes]:
    data = os.environ.get("NEURALAB_DATA")
    if data and (Path(data) / "cats_and_dogs_filtered").is_dir():
        files = sorted((Path(data) / "cats_and_dogs_filtered").rglob("*.jpg"))[:n]
        if files:
            return [f.read_bytes() for f in files]
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(buf, "JPEG")
        out.append(buf.getvalue())
    return out


async def burst(url: str, imgs: list[bytes], requests: int, concurrency: int) -> tuple[list[float], int, float]:
    lat, errors, counter = [], 0, iter(range(requests))
    async with httpx.AsyncClient(timeout=60) as client:
        async def worker() -> None:
            nonlocal errors
            for i in counter:
                t = time.perf_counter()
                r = await client.post(url, files={"file": ("x.jpg", imgs[i % len(imgs)], "image/jpeg")})
                lat.append(time.perf_counter() - t)
                errors += r.status_code != 200
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return lat, errors, time.perf_counter() - t0


def run_one(run: Path, backend: str, batching: bool, args: argparse.Namespace, imgs: list[bytes]) -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    boot = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import serve_load; "
            "serve_load.register(); from neuralab.cli import main; sys.exit(main(sys.argv[1:]))")
    cmd = [sys.executable, "-c", boot, "serve", str(run), "--port", str(port), "--backend", backend,
           "--queue", str(max(256, args.concurrency * 2))] + ([] if batching else ["--no-batching"])
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        url = f"http://127.0.0.1:{port}/v1/models/{run.name}/predict"
        asyncio.run(burst(url, imgs, min(20, args.requests), 4))  # warm-up
        lat, errors, secs = asyncio.run(burst(url, imgs, args.requests, args.concurrency))
    finally:
        proc.terminate()
        proc.wait(20)
    ms = np.array(lat) * 1000
    tput = args.requests / secs
    print(f"{backend:12s} batching={'on ' if batching else 'off'}  {tput:7.1f} req/s  p50 {np.percentile(ms, 50):7.1f} ms"
          f"  p99 {np.percentile(ms, 99):7.1f} ms  errors {errors}", flush=True)
    return tput


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args()
    imgs = images()
    with tempfile.TemporaryDirectory() as tmp:
        run = make_run(Path(tmp))
        t = {(b, m): run_one(run, b, m, args, imgs) for b in ("torch", "onnxruntime") for m in (True, False)}
    print(f"ratio (no batching): {t[('onnxruntime', False)] / t[('torch', False)]:.2f}")
    print(f"ratio: {t[('onnxruntime', True)] / t[('torch', True)]:.2f}  (micro-batching on)")


if __name__ == "__main__":
    main()
