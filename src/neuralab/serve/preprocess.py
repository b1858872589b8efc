"""Request bytes -> validated model input, through the model card's `Preprocess` (the one training used) and the
one image reader (`data.images.open_image`): size limits (bytes and pixels), decode errors, feature shapes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np
from starlette.requests import Request

from neuralab.data.images import DEFAULT_MAX_PIXELS, ImageTooLarge, open_image
from neuralab.data.preprocess import Preprocess
from neuralab.errors import DataError


class InputError(ValueError):
    """Bad client input; `status` is the HTTP status the service answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 10 * 1024 * 1024  # an image upload
    max_pixels: int = DEFAULT_MAX_PIXELS  # its decoded size, checked from the header before decoding
    max_json_bytes: int = 1024 * 1024  # a JSON body of features
    max_rows: int = 1024  # rows of features in one request
    body_timeout_s: float = 30.0  # a body must arrive within this (slow uploads hold a connection and memory)


MULTIPART_SLACK = 64 * 1024  # room for the multipart headers and boundaries around an upload


async def read_body(request: Request, limit: int, timeout: float, what: str = "body", slack: int = 0) -> bytes:
    """The request body, refused (413) as soon as it exceeds `limit` (+ `slack` for multipart framing) — declared
    or actually sent, chunked or not — and (408) when it takes longer than `timeout`. Starlette's `form()` then
    parses it from memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + slack:
        raise InputError(f"{what} is {declared} bytes, larger than the limit of {limit}", 413)
    limit += slack
    chunks, total = [], 0
    try:
        with anyio.fail_after(timeout):
            async for chunk in request.stream():
                total += len(chunk)
                if total > limit:
                    raise InputError(f"{what} is larger than the limit of {limit - slack} bytes", 413)
                chunks.append(chunk)
    except TimeoutError:
        raise InputError(f"the body did not arrive within {timeout:g} s", 408) from None
    body = b"".join(chunks)
    request._body = body  # starlette reads a cached body instead of the (consumed) stream
    return body


def parse_json(body: bytes, limits: Limits) -> Any:
    """JSON from bytes; not JSON, not UTF-8, or nested absurdly deep: a 400 that says which."""
    try:
        return json.loads(body)
    except RecursionError:
        raise InputError("JSON body is nested too deeply") from None
    except UnicodeDecodeError as e:
        raise InputError(f"JSON body is not UTF-8 text ({e.reason})") from None
    except ValueError as e:
        raise InputError(f"body is not valid JSON ({e})") from None


def image_input(pre: Preprocess, data: bytes, limits: Limits = Limits()) -> np.ndarray:
    """Image file bytes -> (C, H, W) float32, as the model was trained; InputError says what was wrong."""
    if not pre.is_image:
        raise InputError(f"this model takes features {list(pre.input_shape)}, not an image; "
                         f'send JSON {{"inputs": [[...], ...]}}')
    if len(data) > limits.max_bytes:
        raise InputError(f"image is {len(data)} bytes, larger than the limit of {limits.max_bytes}", 413)
    try:
        return pre.images([open_image(data, limits.max_pixels, name="upload")])[0]
    except ImageTooLarge as e:
        raise InputError(str(e), 413) from None
    except DataError as e:
        raise InputError(str(e)) from None


def feature_input(pre: Preprocess, payload: Any, limits: Limits = Limits()) -> np.ndarray:
    """JSON {"inputs": [[f1, f2, ...], ...]} -> (N, F) float32, normalized."""
    if pre.is_image:
        raise InputError(f"this model takes an image {list(pre.input_shape)}: send it as multipart 'file'")
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise InputError(f'expected a JSON object {{"inputs": [[...], ...]}}; received {str(payload)[:80]}', 422)
    rows = payload["inputs"]
    if isinstance(rows, list) and len(rows) > limits.max_rows:
        raise InputError(f"'inputs' has {len(rows)} rows, more than the limit of {limits.max_rows} per request", 413)
    try:
        return pre.features(payload["inputs"])
    except DataError as e:
        raise InputError(f"'inputs': {e}", 422) from None


async def read_input(request: Request, pre: Preprocess, limits: Limits, decoders: anyio.CapacityLimiter
                     ) -> np.ndarray:
    """A request (multipart image upload, or JSON features) -> the model's input batch."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        await read_body(request, limits.max_bytes, limits.body_timeout_s, "upload", MULTIPART_SLACK)
        try:
            form = await request.form(max_files=1, max_fields=8)
        except Exception as e:  # noqa: BLE001 - any multipart parser complaint is the client's malformed body
            raise InputError(f"malformed multipart body ({type(e).__name__}: {e})") from None
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InputError("multipart request has no file field named 'file'")
        data = await upload.read(limits.max_bytes + 1)
        return (await anyio.to_thread.run_sync(image_input, pre, data, limits, limiter=decoders))[None]
    if ctype.startswith("application/json"):
        payload = parse_json(await read_body(request, limits.max_json_bytes, limits.body_timeout_s, "JSON body"), limits)
        return feature_input(pre, payload, limits)
    raise InputError(f"unsupported content type {ctype!r}: send multipart/form-data with 'file', or JSON", 415)
