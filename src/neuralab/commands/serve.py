"""`neuralab export` and `neuralab serve`."""

from __future__ import annotations

import argparse
from typing import Any

from neuralab.commands.common import model_run, sub


def cmd_export(ns: argparse.Namespace) -> int:
    from neuralab.serve.export import export

    print(f"export: {export(model_run(ns.run, ns), ns.format, ns.out)}")
    return 0


def cmd_serve(ns: argparse.Namespace) -> int:
    from neuralab.serve.app import ServeConfig, serve
    from neuralab.serve.preprocess import Limits

    if ns.max_upload_mb <= 0 or ns.max_pixels <= 0:
        from neuralab.errors import ConfigError

        raise ConfigError(f"upload limits must be positive; received --max-upload-mb {ns.max_upload_mb}, "
                          f"--max-pixels {ns.max_pixels}")
    limits = Limits(max_bytes=int(ns.max_upload_mb * 1024 * 1024), max_pixels=ns.max_pixels)
    cfg = ServeConfig(backend=ns.backend, threads=ns.threads, max_batch=ns.max_batch, max_wait_ms=ns.max_wait_ms,
                      queue=ns.queue, batching=not ns.no_batching, limits=limits, host=ns.host, port=ns.port)
    serve(ns.models, cfg)
    return 0


def register(top: Any) -> None:
    from neuralab.serve.preprocess import Limits

    p = sub(top, "export", "export a run's model to ONNX or TorchScript (checked against PyTorch)",
            ["neuralab export runs/20260101-120000-digits-mlp --format onnx"], common=False)
    p.add_argument("run", help="run directory or name, or a model .safetensors file")
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    p.add_argument("--out", help="output folder (default: RUN/export)")
    p.add_argument("--runs-dir", help="root of run directories (default: $NEURALAB_RUNS or ./runs)")
    p.set_defaults(func=cmd_export)
    p = sub(top, "serve", "serve models over HTTP (FastAPI): /v1/models, /docs and a web page at /",
            ["neuralab serve runs/20260101-120000-digits-mlp          # served as digits-mlp",
             "neuralab serve RUN_A RUN_B --backend onnxruntime",
             "neuralab serve small=runs/X big=runs/Y/export --max-upload-mb 2 --max-pixels 4000000"], common=False)
    p.add_argument("models", nargs="+", metavar="[NAME=]MODEL",
                   help="run directories, checkpoints or export folders (read at start-up only); served under "
                        "the run's name without its time stamp, or NAME")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch")
    p.add_argument("--threads", type=int, default=0,
                   help="inference threads (default 0: every core but one, which is left to HTTP and decoding)")
    p.add_argument("--max-batch", type=int, default=32)
    p.add_argument("--max-wait-ms", type=float, default=5.0)
    p.add_argument("--queue", type=int, default=256, help="waiting requests before the service answers 503")
    p.add_argument("--no-batching", action="store_true", help="run each request on its own (batch 1)")
    p.add_argument("--max-upload-mb", type=float, default=Limits.max_bytes / 2**20,
                   help="largest image upload in MiB; larger answers 413 (default %(default)g)")
    p.add_argument("--max-pixels", type=int, default=Limits.max_pixels,
                   help="largest decoded image, width x height; larger answers 413 (default %(default)d)")
    p.set_defaults(func=cmd_serve)
