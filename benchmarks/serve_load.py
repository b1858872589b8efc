"""Load test of `neuralab serve`'s engines — torch fp32 eager, torch bf16, ONNX Runtime fp32 and int8 — and of a
peer serving framework (LitServe), all measured in one run, interleaved.

    PYTHONPATH=src python benchmarks/serve_load.py [--requests 1000] [--concurrency 32] [--rounds 5]
        [--accuracy-images 1000] [--threads 0] [--with-batching]
    # the peer, once, in the benchmark's own folder (never neuralab's environment):
    pip install --target benchmarks/.peer litserve==0.2.19

Two models, both 224 px, both fed through their model card's Preprocess by every server:
- speed, `resnet18`: torchvision ResNet-18 with random weights (the model of issue 22's table). Its int8 and bf16
  exports are forced through: an accuracy check on random weights means nothing.
- accuracy, `mobilenet_v2`: the shared ImageNet MobileNetV2 (../shared/weights), its head trained on the frozen
  features of cats_and_dogs_filtered's training photos (feature extraction, about a minute); exported at each
  precision by `neuralab export`, whose checks measure top-1 on the 1,000 validation photos.

1. Model only (no HTTP): ms per image of each engine at batch 1 and batch 16, engines called in turn.
2. One service per engine plus the peer, each serving both models at batch 1 (micro-batching off; the peer with
   max_batch_size=1); `--requests` real JPEGs of cats_and_dogs_filtered sent to `resnet18` by `--concurrency`
   clients, in `--rounds` interleaved rounds so background load falls on every server alike: req/s, p50/p99
   latency, errors (anything but HTTP 200).
3. Accuracy through each server: `--accuracy-images` labelled validation photos sent to `mobilenet_v2`.
Last line: `ratio: <best neuralab engine req/s / torch fp32 eager req/s>` at batch 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import httpx
import numpy as np
import torch

from neuralab.config import Settings
from neuralab.data.cats_dogs import CLASS_NAMES
from neuralab.data.preprocess import Preprocess
from neuralab.errors import NeuralabError
from neuralab.models import create_model
from neuralab.models.checkpoint import save_model
from neuralab.records import ModelCard
from neuralab.runs import Run
from neuralab.serve.backends import cpu_count, default_threads, load
from neuralab.serve.export import export
from neuralab.tasks.precision import ExportOptions
from neuralab.train.transfer import TransferOptions, load_for_backbone, prepare, resolve_pretrained, run_strategy

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / "benchmarks" / ".peer"
ENGINES = ("torch", "torch-bf16", "onnxruntime", "onnxruntime-int8")
DATASET = "cats-dogs-filtered"


def shared(env: str, name: str) -> Path:
    return Path(os.environ.get(env) or ROOT.parent / "shared" / name)


def speed_run(folder: Path) -> Path:
    torch.manual_seed(0)
    pre = Preprocess((3, 224, 224), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 255.0, 256)
    card = ModelCard("resnet18", "classification", (3, 224, 224), 2, pre, classes=("cat", "dog"), dataset=DATASET)
    save_model(folder / "resnet18" / "checkpoints" / "model.safetensors",
               create_model("resnet18", (3, 224, 224), 2).eval(), card)
    return folder / "resnet18"


def accuracy_run(settings: Settings) -> tuple[Path, str]:
    opts, about = resolve_pretrained(TransferOptions(backbone="auto", epochs=5), settings)
    data, pre = load_for_backbone(DATASET, settings, opts)
    run = Run.create(settings.runs_dir, opts.backbone)
    outcome, _ = run_strategy("feature-extraction", prepare(data, pre), opts, settings, run, pre, log=lambda _: None)
    return run.path, f"{opts.backbone} ({about.rstrip('.')}), feature extraction: {100 * outcome.accuracy:.1f}% test"


def export_all(run: Path, settings: Settings, force: bool) -> dict[str, dict]:
    """fp32, int8 and bf16 exports into the run (where `neuralab serve RUN --engine E` finds them); an accuracy
    check that fails is reported and the export forced, so the table still shows its speed."""
    checks = {}
    for precision in ("fp32", "int8", "bf16"):
        try:
            folder = export(run, options=ExportOptions(precision=precision, force=force), settings=settings)
        except NeuralabError as e:
            print(f"  {run.name} {precision}: {e}", flush=True)
            folder = export(run, options=ExportOptions(precision=precision, force=True), settings=settings)
        checks[precision] = json.loads((folder / "serve.json").read_text()).get("check") or {}
    return checks


def direct(run: Path, threads: int, runs: int = 20) -> dict[str, tuple[float, float]]:
    """ms per image of each engine at batch 1 and batch 16 (median of `runs`), engines called in turn."""
    backends = {e: load(run, e, threads)[0] for e in ENGINES}
    rng = np.random.default_rng(0)
    xs = {n: rng.normal(size=(n, 3, 224, 224)).astype(np.float32) for n in (1, 16)}
    times: dict[tuple[str, int], list[float]] = {(e, n): [] for e in ENGINES for n in xs}
    for i in range(runs + 2):
        for e, fn in backends.items():
            for n, x in xs.items():
                if n == 16 and i % 4:  # batch 16 takes 16x as long: every 4th round is enough
                    continue
                t = time.perf_counter()
                fn(x)
                if i >= 2:
                    times[(e, n)].append((time.perf_counter() - t) * 1000 / n)
    return {e: (statistics.median(times[(e, 1)]), statistics.median(times[(e, 16)])) for e in ENGINES}


def labelled_images(data_dir: Path, n: int) -> tuple[list[tuple[bytes, str]], str]:
    folder = data_dir / "cats_and_dogs_filtered" / "validation"
    files = sorted(folder.rglob("*.jpg"))
    if not files:
        raise SystemExit(f"no JPEGs under {folder}: set NEURALAB_DATA to the folder holding cats_and_dogs_filtered")
    picked = files[::max(1, len(files) // n)][:n] if n < len(files) else files
    return [(f.read_bytes(), CLASS_NAMES[f.parent.name]) for f in picked], f"{len(picked)} JPEGs from {folder}"


@dataclass
class Server:
    label: str
    engine: str  # neuralab's engine; "" for the peer
    proc: subprocess.Popen
    base: str
    url: Callable[[str], str]  # model name -> predict URL
    top: Callable[[dict], str]  # answer -> predicted class
    ready: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    correct: int = 0
    answered: int = 0


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(engine: str, models: dict[str, Path], args: argparse.Namespace, batching: bool = False) -> Server:
    port = _port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    if engine == "litserve":
        cmd = [sys.executable, str(ROOT / "benchmarks" / "serve_peer.py"), str(port),
               str(args.threads or default_threads()), *(f"{n}={p}" for n, p in models.items())]
        proc = subprocess.Popen(cmd, env={**env, "PYTHONPATH": f"{PEER}{os.pathsep}{ROOT / 'src'}"},
                                stdout=subprocess.DEVNULL, start_new_session=True)  # its workers: one group
        base = f"http://127.0.0.1:{port}"
        return Server("litserve (peer), torch fp32", "", proc, base, lambda m: f"{base}/{m}", lambda a: a["class"],
                      "/health")
    cmd = [sys.executable, "-m", "neuralab", "serve", *(f"{n}={p}" for n, p in models.items()), "--port", str(port),
           "--engine", engine, "--threads", str(args.threads), "--queue", str(max(256, args.concurrency * 2))]
    proc = subprocess.Popen(cmd + ([] if batching else ["--no-batching"]), env=env, stdout=subprocess.DEVNULL,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    return Server(f"neuralab {engine}{', micro-batching' if batching else ''}", engine, proc, base,
                  lambda m: f"{base}/v1/models/{m}/predict", lambda a: a["predictions"][0]["top"][0]["class"],
                  "/readyz")


def wait_ready(s: Server) -> None:
    for _ in range(900):
        if s.proc.poll() is not None:
            raise SystemExit(f"{s.label}: the server exited with {s.proc.returncode}")
        try:
            if httpx.get(s.base + s.ready, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{s.label}: not ready after 180 s")


async def burst(s: Server, model: str, items: list[tuple[bytes, str]], requests: int, concurrency: int,
                record: str = "load") -> None:
    """`requests` uploads of `items` (cycled) by `concurrency` clients; record "load" (latency, errors),
    "accuracy" (answers against labels) or "" (warm-up)."""
    counter = iter(range(requests))
    url = s.url(model)
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=concurrency)) as client:
        async def worker() -> None:
            for i in counter:
                data, label = items[i % len(items)]
                t = time.perf_counter()
                try:
                    r = await client.post(url, files={"file": ("x.jpg", data, "image/jpeg")})
                    ok, answer = r.status_code == 200, r.json() if r.status_code == 200 else None
                except httpx.HTTPError:
                    ok, answer = False, None
                if record == "load":
                    s.latencies.append(time.perf_counter() - t)
                    s.errors += not ok
                elif record == "accuracy" and answer is not None:
                    s.answered += 1
                    s.correct += s.top(answer) == label
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        if record == "load":
            s.seconds += time.perf_counter() - t0


def measure(servers: list[Server], photos: list[tuple[bytes, str]], labelled: list[tuple[bytes, str]],
            args: argparse.Namespace) -> None:
    for s in servers:
        wait_ready(s)
        for model in ("resnet18", "mobilenet_v2"):
            asyncio.run(burst(s, model, photos, 40, 8, record=""))  # warm-up: first runs, lazy inits
    print(f"load: {args.requests} requests per server to resnet18, {args.concurrency} clients, {args.rounds} "
          f"interleaved rounds", flush=True)
    for r in range(args.rounds):
        share = args.requests // args.rounds + (r < args.requests % args.rounds)
        for s in servers:
            asyncio.run(burst(s, "resnet18", photos, share, args.concurrency))
    print(f"accuracy: {len(labelled)} labelled photos per server to mobilenet_v2", flush=True)
    for s in servers:
        asyncio.run(burst(s, "mobilenet_v2", labelled, len(labelled), args.concurrency, record="accuracy"))


def _check(engine: str, checks: dict[str, dict]) -> str:
    """The export's check of the accuracy model: int8 and bf16 their own; fp32 the reference those measured."""
    if engine in ("onnxruntime-int8", "torch-bf16"):
        c = checks[engine.split("-")[1]]
        return f"{100 * c['accuracy']:.2f}%, {-c['drop_points']:+.2f} pt{'' if c['passed'] else ' FAILED'}"
    ref = checks.get("int8" if engine == "onnxruntime" else "bf16") or {}
    return f"{100 * ref['fp32_accuracy']:.2f}% (the fp32 reference)" if engine and ref else "-"


def table(servers: list[Server], ms: dict[str, tuple[float, float]], checks: dict[str, dict]) -> dict[str, float]:
    print("\n| server, engine | req/s | p50 ms | p99 ms | errors | MobileNetV2 top-1 via the server | export check "
          "(top-1, drop vs fp32) | model only ms/image, batch 1 / 16 |")
    print("|---|---|---|---|---|---|---|---|")
    tput = {}
    for s in servers:
        lat = np.array(s.latencies) * 1000
        tput[s.label] = len(lat) / s.seconds
        acc = f"{100 * s.correct / s.answered:.2f}% of {s.answered}" if s.answered else "no answers"
        model_only = " / ".join(f"{v:.1f}" for v in ms[s.engine]) if s.engine else "-"
        print(f"| {s.label} | {tput[s.label]:.1f} | {np.percentile(lat, 50):.1f} | {np.percentile(lat, 99):.1f} | "
              f"{s.errors} | {acc} | {_check(s.engine, checks)} | {model_only} |", flush=True)
    return tput


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=1000, help="load requests per server")
    ap.add_argument("--concurrency", type=int, default=32, help="clients sending at once")
    ap.add_argument("--threads", type=int, default=0, help="inference threads of every server (0: neuralab's "
                                                           "default, every core but one)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds the load is split into")
    ap.add_argument("--accuracy-images", type=int, default=1000, help="labelled photos sent to each server")
    ap.add_argument("--with-batching", action="store_true", help="also each neuralab engine with micro-batching")
    args = ap.parse_args()
    data_dir, weights_dir = shared("NEURALAB_DATA", "datasets"), shared("NEURALAB_WEIGHTS", "weights")
    photos, source = labelled_images(data_dir, 64)
    labelled, _ = labelled_images(data_dir, args.accuracy_images)
    peer = PEER.is_dir()
    print(f"{cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; {source}; servers: "
          f"{args.threads or default_threads()} inference thread(s)"
          f"{'' if peer else '; no peer: pip install --target benchmarks/.peer litserve==0.2.19'}", flush=True)
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        settings = Settings.resolve(runs_dir=Path(tmp) / "runs", data_dir=data_dir, weights_dir=weights_dir,
                                    download=False)
        resnet = speed_run(Path(tmp))
        mobilenet, about = accuracy_run(settings)
        print(f"accuracy model: {about}", flush=True)
        export_all(resnet, settings, force=True)
        checks = export_all(mobilenet, settings, force=False)
        ms = direct(resnet, cpu_count())
        print(f"model only, ResNet-18, {cpu_count()} threads, ms per image (batch 1 / batch 16): " + ", ".join(
            f"{e} {b1:.1f} / {b16:.1f} ({ms['torch'][0] / b1:.2f}x)" for e, (b1, b16) in ms.items()), flush=True)
        models = {"resnet18": resnet, "mobilenet_v2": mobilenet}
        servers = [start(e, models, args) for e in ENGINES] + ([start("litserve", models, args)] if peer else [])
        servers += [start(e, models, args, batching=True) for e in ENGINES] if args.with_batching else []
        try:
            measure(servers, photos, labelled, args)
        finally:
            for s in servers:  # each server's process group: LitServe's workers outlive their parent otherwise
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(s.proc.pid, signal.SIGTERM)
            for s in servers:
                s.proc.wait(30)
    print(f"load average {os.getloadavg()[0]:.1f} at the end", flush=True)
    tput = table(servers, ms, checks)
    ours = {k: v for k, v in tput.items() if k.startswith("neuralab") and "micro" not in k}
    best = max(ours, key=ours.get)
    peer_line = f"; vs the peer: {ours[best] / tput['litserve (peer), torch fp32']:.2f}x" if peer else ""
    print(f"\nbest: {best} {ours[best]:.1f} req/s, {ours[best] / ours['neuralab torch']:.2f}x torch fp32{peer_line}")
    print(f"ratio: {ours[best] / ours['neuralab torch']:.2f}")


if __name__ == "__main__":
    main()
