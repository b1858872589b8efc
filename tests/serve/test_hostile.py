"""The service under hostile and careless clients: every bad request is a 4xx with a message (never a 5xx but the
503 of a full queue), good requests still get the right answer afterwards, and slow clients are cut off."""

from __future__ import annotations

import io
import json
import socket
import threading
import time

import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient
from PIL import Image

from neuralab.serve.app import ServeConfig, create_app
from neuralab.serve.preprocess import Limits
from neuralab.serve.protocol import GuardedH11Protocol
from tests.serve.conftest import png

LIMITS = Limits(max_bytes=60_000, max_pixels=1_000_000, max_json_bytes=20_000, max_rows=64)


@pytest.fixture(scope="module")
def client(runs):
    with TestClient(create_app([f"digits={runs['digits']}", f"moons={runs['moons']}"],
                               ServeConfig(limits=LIMITS))) as c:
        yield c


def _blank_png(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("L", size).save(buf, "PNG")  # compresses to a few KB: a small file announcing many pixels
    return buf.getvalue()


def _images() -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(0)
    good = png((20, 20), "RGB")
    return [("random bytes", rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()),
            ("truncated png", good[: len(good) // 2]), ("empty", b""), ("text", b"hello, not an image"),
            ("png header only", good[:40]), ("too many pixels", _blank_png((1100, 1000))),
            ("too many bytes", b"\x89PNG" + b"\0" * 70_000)]


def _json_bodies() -> list[tuple[str, bytes]]:
    return [("not json", b"{inputs: [1, 2]"), ("deep", b"[" * 9_000 + b"]" * 9_000),
            ("not utf-8", '{"inputs": [[1, 2]]}'.encode("utf-16")[2:] + b"\xff\xfe"),
            ("latin-1", '{"inputs": "\xe9"}'.encode("latin-1")), ("wrong shape", b'{"inputs": [[1, 2, 3]]}'),
            ("ragged", b'{"inputs": [[1, 2], [3]]}'), ("strings", b'{"inputs": [["a", "b"]]}'),
            ("nan", b'{"inputs": [[NaN, 1]]}'), ("no inputs", b'{"x": 1}'), ("a list", b"[1, 2]"),
            ("too many rows", json.dumps({"inputs": [[0, 0]] * 65}).encode()),
            ("too large", json.dumps({"inputs": [[0.123456789, 0.123456789]] * 900}).encode()),
            ("huge number", b'{"inputs": [[1e400, 1]]}'), ("empty", b""), ("null", b"null")]


def test_no_bad_request_is_answered_with_a_server_error(client):
    statuses = {}
    for name, data in _images():
        for model in ("digits", "moons"):
            r = client.post(f"/v1/models/{model}/predict", files={"file": ("x", data)})
            statuses[f"{model} image: {name}"] = (r.status_code, r.json().get("error", ""))
    for name, body in _json_bodies():
        for model in ("digits", "moons"):
            r = client.post(f"/v1/models/{model}/predict", content=body, headers={"content-type": "application/json"})
            statuses[f"{model} json: {name}"] = (r.status_code, r.json().get("error", ""))
    odd = [("broken multipart", b"--abc\r\nnonsense", "multipart/form-data; boundary=abc"),
           ("no boundary", b"whatever", "multipart/form-data"), ("xml", b"<a/>", "application/xml"),
           ("no field", b"--b\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\n1\r\n--b--\r\n",
            "multipart/form-data; boundary=b")]
    for name, body, ctype in odd:
        r = client.post("/v1/models/digits/predict", content=body, headers={"content-type": ctype})
        statuses[name] = (r.status_code, r.json().get("error", ""))
    bad = {k: v for k, v in statuses.items() if not 400 <= v[0] < 500 or not v[1]}
    assert not bad, bad
    assert statuses["digits image: too many pixels"][0] == 413 and "pixels" in statuses["digits image: too many pixels"][1]
    assert statuses["moons json: too large"][0] == 413 and statuses["moons json: too many rows"][0] == 413
    assert statuses["moons json: deep"][0] == 400 and "deeply" in statuses["moons json: deep"][1]


def test_cmyk_and_other_modes_are_answered(client):
    """CMYK and Lab used to be a ValueError traceback and an HTTP 500."""
    for mode in ("CMYK", "LAB", "LA", "P", "I;16", "F", "1"):
        buf = io.BytesIO()
        im = Image.new(mode, (12, 12))
        im.save(buf, "TIFF")
        r = client.post("/v1/models/digits/predict", files={"file": ("x.tif", buf.getvalue())})
        assert r.status_code == 200, (mode, r.text)


def test_good_requests_still_get_the_right_answer_after_the_attacks(client, runs):
    import torch

    from neuralab.models.checkpoint import load_model

    test_no_bad_request_is_answered_with_a_server_error(client)
    x = [[0.3, -0.2], [1.0, 0.5]]
    r = client.post("/v1/models/moons/predict", json={"inputs": x})
    assert r.status_code == 200
    model, card = load_model(runs["moons"])
    with torch.no_grad():
        logits = model(torch.from_numpy(card.preprocess.features(x))).numpy()
    assert [p["top"][0]["index"] for p in r.json()["predictions"]] == [int(np.argmax(row)) for row in logits]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_slowloris_client_is_cut_off(runs, monkeypatch):
    """A client that trickles its request head a byte at a time used to hold its connection forever."""
    monkeypatch.setattr(GuardedH11Protocol, "head_timeout", 0.6)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app([runs["digits"]]), host="127.0.0.1", port=port,
                                           log_level="error", http=GuardedH11Protocol))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 20
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            t0, closed = time.time(), False
            while time.time() - t0 < 4:
                try:
                    s.sendall(b"X")
                    s.settimeout(0.2)
                    closed = s.recv(1) == b""
                except socket.timeout:
                    continue
                except OSError:
                    closed = True
                if closed:
                    break
            assert closed and time.time() - t0 < 3, "the trickling client was not cut off"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:  # a normal client is served
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert b"200 OK" in s.recv(4096)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
