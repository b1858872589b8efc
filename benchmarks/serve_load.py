"""Load test of `neuralab serve`: ResNet-18 at 224x224, torch vs onnxruntime, with and without micro-batching.

    PYTHONPATH=src python benchmarks/serve_load.py [--requests 2000] [--concurrency 32] [--threads 0] [--rounds 5]

First a direct, model-only line: batch-1 latency of the two backends the service uses (same thread count), called
alternately in this process, no HTTP. Then four services on 127.0.0.1 (torch / onnxruntime, micro-batching on /
off), each sent `--requests` real JPEGs (cats_and_dogs_filtered from NEURALAB_DATA or ../shared/datasets) by
`--concurrency` clients. The requests go out in `--rounds` interleaved rounds (every service gets its share of
each round), so background load on a shared machine falls on all four alike. Each service line: throughput,
p50/p99 latency, error count (anything but HTTP 200).

Last line: `ratio: <onnxruntime / torch throughput>` at batch 1 (micro-batching off), the configuration of the
issue's 1.9x; the line before it gives the same ratio with micro-batching on.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import torch
from PIL import Image

from neuralab.models import create_model
from neuralab.models.flops import count_flops, matmul_gflops
from neuralab.serve.backends import OnnxBackend, TorchBackend, cpu_count, default_threads
from neuralab.data.preprocess import Preprocess
from neuralab.models.checkpoint import save_model
from neuralab.records import ModelCard
from neuralab.tasks.dense import export_onnx

ROOT = Path(__file__).resolve().parents[1]
NAME = "resnet18"
CARD = ModelCard("resnet18", "classification", (3, 224, 224), 10,
                 Preprocess((3, 224, 224), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 255.0, 256),
                 classes=tuple(f"c{i}" for i in range(10)))


def make_run(folder: Path) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    model = create_model("resnet18", (3, 224, 224), 10).eval()
    run = folder / NAME
    save_model(run / "checkpoints" / "model.safetensors", model, CARD)
    return run, model


def images(n: int = 64) -> tuple[list[bytes], str]:
    """Real photos (and where they came from); generated noise JPEGs only when no dataset folder is found."""
    for root in (os.environ.get("NEURALAB_DATA"), ROOT.parent / "shared" / "datasets"):
        folder = Path(root or "/nonexistent") / "cats_and_dogs_filtered" / "validation"
        files = sorted(folder.rglob("*.jpg"))
        if files:
            step = max(1, len(files) // n)
            picked = files[::step][:n]
            sizes = [Image.open(f).size for f in picked]
            w, h = np.mean(sizes, axis=0)
            return [f.read_bytes() for f in picked], f"{len(picked)} JPEGs from {folder} (mean {w:.0f}x{h:.0f})"
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (375, 500, 3), dtype=np.uint8)).save(buf, "JPEG")
        out.append(buf.getvalue())
    return out, f"{n} generated noise JPEGs 500x375 (no cats_and_dogs_filtered found: set NEURALAB_DATA)"


def direct(model: torch.nn.Module, onnx: Path, threads: int, runs: int = 40) -> dict[str, float]:
    """Median batch-1 latency (ms) of the service's two backends, and of torch on a plain contiguous tensor (no
    channels-last), called in turn so that all three see the same background load."""
    plain = copy.deepcopy(model)
    fns = {"torch": TorchBackend(model, threads), "onnxruntime": OnnxBackend(onnx, threads)}
    x = np.random.default_rng(0).normal(size=(1, 3, 224, 224)).astype(np.float32)
    fns["contiguous"] = lambda a: plain(torch.from_numpy(a))
    times: dict[str, list[float]] = {k: [] for k in fns}
    with torch.inference_mode():
        for i in range(runs + 3):
            for key, fn in fns.items():
                t = time.perf_counter()
                fn(x)
                if i >= 3:
                    times[key].append(time.perf_counter() - t)
    return {k: 1000 * statistics.median(v) for k, v in times.items()}


@dataclass
class Service:
    backend: str
    batching: bool
    proc: subprocess.Popen
    url: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.backend:12s} batching={'on ' if self.batching else 'off'}"


def start(run: Path, backend: str, batching: bool, args: argparse.Namespace) -> Service:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "neuralab", "serve", str(run), "--port", str(port), "--backend", backend,
           "--threads", str(args.threads), "--queue", str(max(256, args.concurrency * 2))]
    proc = subprocess.Popen(cmd + ([] if batching else ["--no-batching"]),
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    return Service(backend, batching, proc, f"http://127.0.0.1:{port}/v1/models/{NAME}/predict")


def wait_ready(svc: Service) -> None:
    base = svc.url.split("/v1/")[0]
    for _ in range(600):
        if svc.proc.poll() is not None:
            raise SystemExit(f"{svc.label}: the service exited with {svc.proc.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{svc.label}: not ready after 120 s")


async def burst(svc: Service, imgs: list[bytes], requests: int, concurrency: int, record: bool = True) -> None:
    counter = iter(range(requests))
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=concurrency)) as client:
        async def worker() -> None:
            for i in counter:
                t = time.perf_counter()
                try:
                    r = await client.post(svc.url, files={"file": ("x.jpg", imgs[i % len(imgs)], "image/jpeg")})
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if record:
                    svc.latencies.append(time.perf_counter() - t)
                    svc.errors += not ok
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        if record:
            svc.seconds += time.perf_counter() - t0


def report(svc: Service) -> float:
    ms = np.array(svc.latencies) * 1000
    tput = len(ms) / svc.seconds
    print(f"{svc.label}  {tput:6.1f} req/s  p50 {np.percentile(ms, 50):7.1f} ms  p99 {np.percentile(ms, 99):7.1f} ms"
          f"  errors {svc.errors}", flush=True)
    return tput


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000, help="requests per configuration")
    ap.add_argument("--concurrency", type=int, default=32, help="clients sending at once")
    ap.add_argument("--threads", type=int, default=0, help="inference threads (0: the service's default)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds the requests are split into")
    args = ap.parse_args()
    threads = args.threads or default_threads()
    imgs, source = images()
    print(f"ResNet-18 (10 classes), 3x224x224, fp32; {cpu_count()} cores, {threads} inference thread(s); {source}")
    with tempfile.TemporaryDirectory() as tmp:
        run, model = make_run(Path(tmp))
        onnx = Path(tmp) / "model.onnx"
        export_onnx(model, CARD, onnx)  # checked against PyTorch before it is timed
        for n in sorted({threads, cpu_count()}):
            ms = direct(model, onnx, n)
            print(f"direct, model only, batch 1, {n} thread(s) (median of 40, in turn): torch {ms['torch']:.1f} ms "
                  f"(contiguous input: {ms['contiguous']:.1f} ms), onnxruntime {ms['onnxruntime']:.1f} ms -> "
                  f"onnxruntime {ms['torch'] / ms['onnxruntime']:.2f}x faster", flush=True)
            torch.set_num_threads(n)
            peak, gflop = matmul_gflops(torch.device("cpu"), n=1024), count_flops(model, (3, 224, 224)) / 1e9
            print(f"  {gflop:.2f} GFLOP per image: torch runs at {gflop / ms['torch'] * 1000:.0f} GFLOP/s, onnxruntime "
                  f"at {gflop / ms['onnxruntime'] * 1000:.0f}; this machine's fp32 matmul (torch, 1024x1024) at "
                  f"{peak:.0f} GFLOP/s on {n} thread(s). 1.8x this torch would take "
                  f"{1.8 * gflop / ms['torch'] * 1000:.0f} GFLOP/s ({1.8 * gflop / ms['torch'] * 1000 / peak:.2f}x the "
                  f"matmul rate)", flush=True)
        services = [start(run, b, m, args) for b in ("torch", "onnxruntime") for m in (True, False)]
        try:
            for svc in services:
                wait_ready(svc)
                asyncio.run(burst(svc, imgs, 40, 8, record=False))  # warm-up: first runs, batch shapes
            print(f"burst: {args.requests} requests per configuration, {args.concurrency} concurrent clients, "
                  f"{args.rounds} interleaved rounds", flush=True)
            for r in range(args.rounds):
                share = args.requests // args.rounds + (r < args.requests % args.rounds)
                for svc in services:
                    asyncio.run(burst(svc, imgs, share, args.concurrency))
        finally:
            for svc in services:
                svc.proc.terminate()
            for svc in services:
                svc.proc.wait(30)
    t = {(s.backend, s.batching): report(s) for s in services}
    print(f"ratio with micro-batching on: {t[('onnxruntime', True)] / t[('torch', True)]:.2f}; "
          f"at batch 1 (micro-batching off, below): {t[('onnxruntime', False)] / t[('torch', False)]:.2f}")
    print(f"ratio: {t[('onnxruntime', False)] / t[('torch', False)]:.2f}")


if __name__ == "__main__":
    main()
