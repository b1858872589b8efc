"""Export parity, the real uvicorn server with the Python client and CLI, and the web page in Chromium."""

from __future__ import annotations

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
from neuralab.serve.backends import load
from neuralab.serve.export import export
from tests.serve.conftest import png

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_matches_torch(runs, tmp_path, fmt):
    folder = export(runs["digits"], fmt, tmp_path / fmt)
    backend, meta = load(folder, "onnxruntime" if fmt == "onnx" else "torch")
    torch_backend, _ = load(runs["digits"], "torch")
    x = np.random.default_rng(0).normal(size=(5, 1, 8, 8)).astype(np.float32)
    assert np.abs(backend(x) - torch_backend(x)).max() < 1e-4
    assert meta["task"] == "classification" and meta["format"] == fmt


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(runs):
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, "-m", "neuralab", "serve", str(runs["digits"]), str(runs["moons"]),
                             "--port", str(port), "--backend", "onnxruntime"], env=env)
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


def test_client_against_real_server(server, runs, tmp_path):
    c = Client(server)
    names = {m["name"]: m for m in c.models()}
    digits = runs["digits"].name
    assert digits in names and names[digits]["backend"] == "onnxruntime"
    img = tmp_path / "a.png"
    img.write_bytes(png())
    assert len(c.predict(digits, img)["predictions"][0]["top"]) == 5
    assert len(c.predict(runs["moons"].name, [[0.1, 0.2]])["predictions"]) == 1
    [r] = predict_remote(server, digits, [img], top_k=2)
    assert r["image"] == str(img) and len(r["predictions"][0]["top"]) == 2
    out = subprocess.run([sys.executable, "-m", "neuralab", "predict-url", "--url", server, "--model", digits,
                          str(img)], env={**os.environ, "PYTHONPATH": SRC}, capture_output=True, text=True)
    assert out.returncode == 0 and str(img) in out.stdout, out.stderr


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
            page.select_option("#model", runs["digits"].name)
            page.set_input_files("#file", str(img))
            page.wait_for_selector(".bar", timeout=15_000)
            first = page.locator(".bar .name").first.inner_text()
            page.screenshot(path=str(artifacts / "serve-page.png"))
        finally:
            browser.close()
    from neuralab.train.checkpoint import load_model

    assert first in load_model(runs["digits"])[1]["classes"]
