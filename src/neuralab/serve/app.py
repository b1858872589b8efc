"""The FastAPI service: several models, micro-batched inference off the event loop, JSON errors, a web page."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from neuralab.errors import NeuralabError
from neuralab.serve import backends
from neuralab.serve.batching import MicroBatcher, QueueFull
from neuralab.serve.handlers import HANDLERS
from neuralab.serve.preprocess import InputError, Limits, Preprocess

STATIC = Path(__file__).parent / "static"
MULTIPART_SLACK = 64 * 1024  # room for the multipart headers and boundaries around an upload


@dataclass
class Served:
    name: str
    meta: dict[str, Any]
    pre: Preprocess
    batcher: MicroBatcher
    backend: str
    ref: str = ""

    def info(self) -> dict[str, Any]:
        m = self.meta
        return {"name": self.name, "task": m.get("task"), "classes": m.get("classes"),
                "input_shape": m.get("input_shape"), "backend": self.backend, "metrics": m.get("metrics", {})}


@dataclass
class ServeConfig:
    backend: str = "torch"
    threads: int = 0  # inference threads; 0: every core but one (backends.default_threads)
    max_batch: int = 32
    max_wait_ms: float = 5.0
    queue: int = 256
    batching: bool = True
    limits: Limits = field(default_factory=Limits)


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a served name is one URL path segment


def split_ref(ref: str | Path) -> tuple[str, str | Path]:
    """`NAME=PATH` -> (NAME, PATH); a bare PATH is named by `backends.model_name`."""
    text = str(ref)
    name, sep, path = text.partition("=")
    if sep and name and "/" not in name and not Path(text).exists():
        return name, path
    return backends.model_name(ref), ref


def load_models(refs: list[str | Path], cfg: ServeConfig) -> dict[str, Served]:
    served: dict[str, Served] = {}
    lock = threading.Lock()  # one inference at a time in this service, whichever model it is for
    for item in refs:
        name, ref = split_ref(item)
        if not NAME.fullmatch(name):
            raise NeuralabError(f"model name {name!r} ({item}) must be letters, digits, '.', '_' or '-'; "
                                "name it with NAME=PATH")
        if name in served:
            raise NeuralabError(f"two models would be served as {name!r} ({served[name].ref} and {ref}); "
                                f"name them with NAME=PATH, e.g. {name}-2={ref}")
        backend, meta = backends.load(ref, cfg.backend, cfg.threads, lock)
        if meta.get("task") not in HANDLERS:
            raise NeuralabError(f"{ref}: no handler for task {meta.get('task')!r}; known: {sorted(HANDLERS)}")
        served[name] = Served(name, meta, Preprocess.from_meta(meta),
                              MicroBatcher(backend, cfg.max_batch, cfg.max_wait_ms, cfg.queue, cfg.batching),
                              backend.name, str(ref))
    return served


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": "1"} if status == 503 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def create_app(refs: list[str | Path], cfg: ServeConfig | None = None,
               served: dict[str, Served] | None = None) -> FastAPI:
    cfg = cfg or ServeConfig()
    models = served if served is not None else load_models(list(refs), cfg)
    app = FastAPI(title="neuralab serve", description="Predictions from neuralab models.")
    app.state.models = models
    # Image decoding runs on threads (PIL releases the GIL), never on the event loop, one per core that the
    # inference threads leave free.
    threads = cfg.threads or backends.default_threads()
    decoders = anyio.CapacityLimiter(max(1, backends.cpu_count() - threads))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        ok = all(m.batcher.thread.is_alive() for m in models.values()) and bool(models)
        return JSONResponse({"ready": ok, "models": sorted(models)}, status_code=200 if ok else 503)

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"models": [m.info() for m in models.values()]}

    @app.post("/v1/models/{name}/predict")
    async def predict(name: str, request: Request, top_k: int = 5) -> JSONResponse:
        t0 = time.perf_counter()
        m = models.get(name)
        if m is None:
            return _error(404, f"unknown model {name!r}", known=sorted(models))
        try:
            x = await _read_input(request, m.pre, cfg.limits, decoders)
            out = await m.batcher(x)
        except InputError as e:
            return _error(e.status, str(e))
        except QueueFull as e:
            return _error(503, f"{e}; retry shortly")
        answers = HANDLERS[m.meta["task"]](out, m.meta, max(1, min(top_k, 100)))
        return JSONResponse({"model": name, "task": m.meta["task"], "predictions": answers,
                             "latency_ms": round((time.perf_counter() - t0) * 1000, 2)})

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


async def _read_input(request: Request, pre: Preprocess, limits: Limits, decoders: anyio.CapacityLimiter
                      ) -> np.ndarray:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        size = request.headers.get("content-length", "")
        if size.isdigit() and int(size) > limits.max_bytes + MULTIPART_SLACK:  # refused before it is read
            raise InputError(f"upload is {size} bytes, larger than the limit of {limits.max_bytes}", 413)
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InputError("multipart request has no file field named 'file'")
        data = await upload.read(limits.max_bytes + 1)
        return (await anyio.to_thread.run_sync(pre.image, data, limits, limiter=decoders))[None]
    if ctype.startswith("application/json"):
        body = await request.body()
        try:
            payload = json.loads(body)
        except json.JSONDecodeError as e:
            raise InputError(f"body is not valid JSON ({e})") from None
        return pre.features(payload)
    raise InputError(f"unsupported content type {ctype!r}: send multipart/form-data with 'file', or JSON", 415)


def serve(refs: list[str], host: str = "127.0.0.1", port: int = 8000, cfg: ServeConfig | None = None) -> None:
    import uvicorn

    uvicorn.run(create_app(refs, cfg), host=host, port=port, log_level="warning")
