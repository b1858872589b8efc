"""The FastAPI service: several models, micro-batched inference off the event loop, JSON errors, a web page."""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.requests import ClientDisconnect

from neuralab.config import Config, option
from neuralab.errors import NeuralabError
from neuralab.records import ModelCard
from neuralab.serve import backends
from neuralab.serve.batching import MicroBatcher, QueueFull
from neuralab.serve.preprocess import InputError, Limits, read_input
from neuralab.serve.protocol import GuardedH11Protocol
from neuralab.tasks import Task, for_card

STATIC = Path(__file__).parent / "static"
LOG = logging.getLogger("neuralab.serve")


@dataclass
class Served:
    name: str
    card: ModelCard
    task: Task
    batcher: MicroBatcher
    backend: str  # the runtime: torch or onnxruntime
    ref: str = ""
    engine: str = ""  # the runtime at a precision (`engines.ENGINES`)
    precision: str = "fp32"
    check: dict[str, Any] | None = None  # the export's accuracy check (int8, bf16)

    def info(self) -> dict[str, Any]:
        """What /v1/models says of a model, with the engine serving it, its precision and its measured top-1
        accuracy on the test split: the export's check for int8 and bf16, the run's own test for fp32."""
        c = self.card
        measured = self.check.get("accuracy") if self.check else c.metrics.get("accuracy")
        return {"name": self.name, "task": c.task, "architecture": c.architecture, "classes": list(c.classes),
                "input_shape": list(c.input_shape), "backend": self.backend, "engine": self.engine or self.backend,
                "precision": self.precision, "accuracy": measured, "accuracy_check": self.check,
                "metrics": dict(c.metrics)}


@dataclass
class ServeConfig(Config):
    engine: Literal["auto", "onnxruntime-int8", "torch-bf16", "onnxruntime", "torch"] = option(
        "auto", "inference engine; auto: the fastest whose accuracy check passed (serve.engines)")
    threads: int = option(0, "inference threads; 0: every core but one (backends.default_threads)", min=0, max=1024)
    max_batch: int = option(32, "largest micro-batch", min=1, max=4096)
    max_wait_ms: float = option(5.0, "how long a request waits for others to batch with", min=0, max=10_000)
    queue: int = option(256, "waiting requests before the service answers 503", min=1, max=1_000_000)
    batching: bool = option(True, "micro-batch requests (off: batch 1)")
    limits: Limits = field(default_factory=Limits)
    host: str = option("127.0.0.1", "address to listen on")
    port: int = option(8000, "port to listen on", min=1, max=65535)


# The body is read by hand (an image upload or JSON features, by content type), so /docs is told what it takes:
# a file field for images, an "inputs" table for feature models.
REQUEST_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary",
                                                               "description": "an image file (any size and mode)"}}}},
    "application/json": {"schema": {"type": "object", "required": ["inputs"],
                                    "properties": {"inputs": {"type": "array", "items": {
                                        "type": "array", "items": {"type": "number"}},
                                        "description": "rows of feature values (feature models)"}}}}}}}
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
        backend, card = backends.load(ref, cfg.engine, cfg.threads, lock)
        task = for_card(card, str(ref))
        if task.answer is None:
            raise NeuralabError(f"{ref}: {card.task} models are not served over HTTP yet; use `neuralab predict` "
                                f"or `neuralab detect`")
        served[name] = Served(name, card, task,
                              MicroBatcher(backend, cfg.max_batch, cfg.max_wait_ms, cfg.queue, cfg.batching),
                              backend.name, str(ref), backend.engine, backend.precision, backend.check)
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

    @app.post("/v1/models/{name}/predict", openapi_extra=REQUEST_BODY)
    async def predict(name: str, request: Request, top_k: int = 5) -> JSONResponse:
        t0 = time.perf_counter()
        m = models.get(name)
        if m is None:
            return _error(404, f"unknown model {name!r}", known=sorted(models))
        try:
            x = await read_input(request, m.card.preprocess, cfg.limits, decoders)
            out = await m.batcher(x)
        except InputError as e:
            return _error(e.status, str(e))
        except ClientDisconnect:
            LOG.warning("client %s disconnected before its request arrived whole", request.client)
            return _error(400, "client disconnected")
        except QueueFull as e:
            return _error(503, f"{e}; retry shortly")
        answers = m.task.answer(out, m.card, max(1, min(top_k, 100)))  # type: ignore[misc]
        return JSONResponse({"model": name, "task": m.card.task, "predictions": answers,
                             "latency_ms": round((time.perf_counter() - t0) * 1000, 2)})

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def describe(m: Served) -> str:
    """`name (engine, top-1 97.1%)`, and a warning when its export failed the accuracy check (forced)."""
    acc = m.info()["accuracy"]
    forced = ", FAILED its accuracy check, served because named" if m.check and not m.check.get("passed") else ""
    return f"{m.name} ({m.engine}{f', top-1 {100 * acc:.1f}%' if isinstance(acc, (int, float)) else ''}{forced})"


def serve(refs: list[str], cfg: ServeConfig | None = None) -> None:
    import uvicorn

    cfg = cfg or ServeConfig()
    app = create_app(refs, cfg)
    url = f"http://{cfg.host}:{cfg.port}"
    print(f"serving {', '.join(map(describe, app.state.models.values()))} at {url}/  (API: {url}/v1/models, "
          f"docs: {url}/docs)", flush=True)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="warning", http=GuardedH11Protocol,
                timeout_keep_alive=5)
