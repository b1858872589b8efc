"""A small Python client for the service, and `predict_remote` behind `neuralab predict --url`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Sequence

from neuralab.errors import NeuralabError


class Client:
    def __init__(self, url: str, timeout: float = 30) -> None:
        self.url, self.timeout = url.rstrip("/"), timeout

    def _call(self, path: str, body: bytes | None = None, ctype: str | None = None) -> dict[str, Any]:
        req = urllib.request.Request(self.url + path, data=body, headers={"Content-Type": ctype} if ctype else {})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            raise NeuralabError(f"{self.url}{path} answered {e.code}: {detail}") from None
        except urllib.error.URLError as e:
            raise NeuralabError(f"cannot reach {self.url} ({e.reason}); is `neuralab serve` running?") from None

    def models(self) -> list[dict[str, Any]]:
        return self._call("/v1/models")["models"]

    def predict(self, name: str, item: str | Path | bytes | Sequence[Sequence[float]], top_k: int = 5
                ) -> dict[str, Any]:
        path = f"/v1/models/{name}/predict?top_k={top_k}"
        if isinstance(item, (str, Path)):
            item = Path(item).read_bytes()
        if isinstance(item, bytes):
            boundary = uuid.uuid4().hex
            body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"image\"\r\n"
                    f"Content-Type: application/octet-stream\r\n\r\n").encode() + item + f"\r\n--{boundary}--\r\n".encode()
            return self._call(path, body, f"multipart/form-data; boundary={boundary}")
        return self._call(path, json.dumps({"inputs": [list(map(float, r)) for r in item]}).encode(),
                          "application/json")


def predict_remote(url: str, model: str | None, images: Sequence[str | Path], top_k: int = 5
                   ) -> list[dict[str, Any]]:
    """One answer per image from a running service (`neuralab predict --url`); `model=None` picks the service's
    only model."""
    client = Client(url)
    if model is None:
        names = [m["name"] for m in client.models()]
        if len(names) != 1:
            raise NeuralabError(f"{url} serves {len(names)} models ({', '.join(names) or 'none'}); "
                                "choose one with --model NAME")
        model = names[0]
    for p in images:
        if not Path(p).is_file():
            raise NeuralabError(f"image {p} does not exist")
    return [{"image": str(p), **client.predict(model, p, top_k)} for p in images]
