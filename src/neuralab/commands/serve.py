"""`neuralab export` and `neuralab serve`."""

from __future__ import annotations

import argparse
from typing import Any

from neuralab.commands.common import model_run, settings, sub


def cmd_export(ns: argparse.Namespace) -> int:
    from neuralab.config import from_args
    from neuralab.files import read_json
    from neuralab.serve.export import export
    from neuralab.tasks.precision import ExportOptions

    folder = export(model_run(ns.run, ns), ns.format, ns.out, from_args(ExportOptions, ns), settings(ns))
    check = read_json(folder / "serve.json", "export sidecar").get("check")
    if isinstance(check, dict) and "accuracy" in check:
        print(f"accuracy on {check['examples']} test examples: {100 * check['accuracy']:.2f}% against fp32's "
              f"{100 * check['fp32_accuracy']:.2f}% (drop {check['drop_points']:.2f} points, same class for "
              f"{100 * check['agreement']:.1f}%){' - FAILED, exported by --force' if check.get('forced') else ''}")
    print(f"export: {folder}")
    return 0


def cmd_serve(ns: argparse.Namespace) -> int:
    from neuralab.errors import ConfigError
    from neuralab.serve.app import ServeConfig, serve
    from neuralab.serve.preprocess import Limits

    if ns.max_upload_mb <= 0 or ns.max_pixels <= 0:
        raise ConfigError(f"upload limits must be positive; received --max-upload-mb {ns.max_upload_mb}, "
                          f"--max-pixels {ns.max_pixels}")
    limits = Limits(max_bytes=int(ns.max_upload_mb * 1024 * 1024), max_pixels=ns.max_pixels)
    if ns.engine and ns.backend and ns.engine != ns.backend:
        raise ConfigError(f"--backend {ns.backend} and --engine {ns.engine} disagree; give one")
    cfg = ServeConfig(engine=ns.engine or ns.backend or "auto", threads=ns.threads, max_batch=ns.max_batch,
                      max_wait_ms=ns.max_wait_ms, queue=ns.queue, batching=not ns.no_batching, limits=limits,
                      host=ns.host, port=ns.port)
    serve(ns.models, cfg)
    return 0


def register(top: Any) -> None:
    from neuralab.serve.preprocess import Limits

    from neuralab.config import add_arguments
    from neuralab.serve.engines import CHOICES
    from neuralab.tasks.precision import ExportOptions

    p = sub(top, "export", "export a run's model to ONNX or TorchScript, in fp32 (checked against PyTorch), int8 or "
                           "bf16 (checked by top-1 accuracy on the test split against fp32)",
            ["neuralab export runs/20260101-120000-digits-mlp --format onnx    # RUN/export",
             "neuralab export RUN --precision int8 --calibration entropy       # RUN/export-int8",
             "neuralab export RUN --precision bf16 --max-drop 0.5              # RUN/export-bf16"], common=False)
    p.add_argument("run", help="run directory or name, or a model .safetensors file")
    p.add_argument("--format", choices=["onnx", "torchscript"],
                   help="default: onnx; int8 is ONNX only and bf16 TorchScript only")
    p.add_argument("--out", help="output folder (default: RUN/export, RUN/export-int8 or RUN/export-bf16)")
    add_arguments(p, ExportOptions)
    p.add_argument("--runs-dir", help="root of run directories (default: $NEURALAB_RUNS or ./runs)")
    p.add_argument("--data-dir", help="data root, for int8 calibration and the accuracy check (default: "
                                      "$NEURALAB_DATA or ~/.cache/neuralab)")
    p.set_defaults(func=cmd_export)
    p = sub(top, "serve", "serve models over HTTP (FastAPI): /v1/models, /docs and a web page at /",
            ["neuralab serve runs/20260101-120000-digits-mlp          # served as digits-mlp",
             "neuralab serve RUN_A RUN_B                    # each with its fastest export that passed its check",
             "neuralab serve RUN --engine onnxruntime-int8   # RUN/export-int8 (neuralab export RUN --precision int8)",
             "neuralab serve small=runs/X big=runs/Y/export --max-upload-mb 2 --max-pixels 4000000"], common=False)
    p.add_argument("models", nargs="+", metavar="[NAME=]MODEL",
                   help="run directories, checkpoints or export folders (read at start-up only); served under "
                        "the run's name without its time stamp, or NAME")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--engine", choices=CHOICES, help="default auto: the fastest engine whose accuracy check passed "
                                                     "(int8, then bf16 on AMX CPUs and GPUs, then fp32)")
    p.add_argument("--backend", choices=["torch", "onnxruntime"], help="the fp32 engine of that runtime (the same "
                                                                       "as --engine torch or onnxruntime)")
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
