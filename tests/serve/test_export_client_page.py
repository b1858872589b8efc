"""Export parity, the real uvicorn server with the Python client and CLI, and the web page in Chromium."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from neuralab.serve import Client, predict_remote
from neuralab.serve.backends import load, model_name
from neuralab.serve.export import export
from tests.serve.conftest import png

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_matches_torch(runs, tmp_path, fmt):
    folder = export(runs["digits"], fmt, tmp_path / fmt)
    backend, card = load(folder, "onnxruntime" if fmt == "onnx" else "torch")
    torch_backend, _ = load(runs["digits"], "torch")
    x = np.random.default_rng(0).normal(size=(5, 1, 8, 8)).astype(np.float32)
    assert np.abs(backend(x) - torch_backend(x)).max() < 1e-4
    side = json.loads((folder / "serve.json").read_text())
    assert card.task == "classification" and side["format"] == fmt and "parity" in side
    assert side["name"] == "digits-mlp" and model_name(folder) == "digits-mlp"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(runs):
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, "-m", "neuralab", "serve", str(runs["digits"]), f"moons={runs['moons']}",
                             "--port", str(port), "--backend", "onnxruntime", "--max-upload-mb", "0.05",
                             "--max-pixels", "1000000"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                Client(url, timeout=1).models()
                break
            except Exception:  # noqa: BLE001 - not up yet
                if proc.poll() is not None:
                    pytest.fail(f"server exited with {proc.returncode}")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "neuralab", *args], env={**os.environ, "PYTHONPATH": SRC},
                          capture_output=True, text=True)


def test_client_against_real_server(server, tmp_path):
    c = Client(server)
    names = {m["name"]: m for m in c.models()}
    assert set(names) == {"digits-mlp", "moons"}  # the run's name without its time stamp; NAME=PATH
    assert names["digits-mlp"]["backend"] == "onnxruntime" and names["digits-mlp"]["engine"] == "onnxruntime"
    img = tmp_path / "a.png"
    img.write_bytes(png())
    assert len(c.predict("digits-mlp", img)["predictions"][0]["top"]) == 5
    assert len(c.predict("moons", [[0.1, 0.2]])["predictions"]) == 1
    [r] = predict_remote(server, "digits-mlp", [img], top_k=2)
    assert r["image"] == str(img) and len(r["predictions"][0]["top"]) == 2


def test_predict_url_cli(server, tmp_path):
    imgs = [tmp_path / "a.png", tmp_path / "b.png"]
    for p in imgs:
        p.write_bytes(png())
    out = _cli("predict", "--url", server, "--model", "digits-mlp", "--top-k", "2", *map(str, imgs))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [str(p) for p in imgs] and len(lines[0].split("  ")) == 2
    out = _cli("predict", "--url", server, str(imgs[0]))  # two models served: --model is needed
    assert out.returncode == 2 and "digits-mlp" in out.stderr and "--model" in out.stderr
    out = _cli("predict", "--url", server, "--model", "nope", str(imgs[0]))
    assert out.returncode == 2 and "404" in out.stderr and "digits-mlp" in out.stderr
    out = _cli("predict", "--model", "digits-mlp", str(imgs[0]))
    assert out.returncode == 2 and "--url" in out.stderr


def test_upload_limit_flags(server):
    import io

    from PIL import Image

    from neuralab.errors import NeuralabError

    c = Client(server)
    with pytest.raises(NeuralabError, match="413.*larger than the limit of 52428"):  # --max-upload-mb 0.05
        c.predict("digits-mlp", png((64, 64)) + b"\0" * 60_000)
    buf = io.BytesIO()
    Image.new("L", (1001, 1000)).save(buf, "PNG")  # small file, 1,001,000 pixels
    with pytest.raises(NeuralabError, match="413.*pixels.*1,?000,?000"):
        c.predict("digits-mlp", buf.getvalue())
    Image.new("L", (1000, 1000)).save(buf := io.BytesIO(), "PNG")  # exactly at the limit
    assert c.predict("digits-mlp", buf.getvalue())["predictions"]


def _chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing; CI must install Debian's chromium for the browser test")
        pytest.skip("chromium not installed")
    return path


def test_web_page_upload_shows_class(server, runs, tmp_path):
    from playwright.sync_api import sync_playwright

    exe = _chromium()
    artifacts = Path(os.environ.get("NEURALAB_TEST_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    img = tmp_path / "digit.png"
    img.write_bytes(png((64, 64)))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True,
                                    args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page()
            page.goto(server + "/")
            page.select_option("#model", "digits-mlp")
            page.set_input_files("#file", str(img))
            page.wait_for_selector(".bar", timeout=15_000)
            first = page.locator(".bar .name").first.inner_text()
            info = page.locator("#info").inner_text()
            page.screenshot(path=str(artifacts / "serve-page.png"))
        finally:
            browser.close()
    from neuralab.models.checkpoint import load_model

    card = load_model(runs["digits"])[1]
    assert first in card.classes
    assert f"engine onnxruntime (fp32), test accuracy {100 * card.metrics['accuracy']:.1f}%" in info
