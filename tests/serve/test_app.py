"""The service through FastAPI's TestClient: predictions, every error case, several models, the 503 path."""

from __future__ import annotations

import io
import shutil
import tempfile
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from neuralab.errors import NeuralabError
from neuralab.serve.app import ServeConfig, Served, create_app, load_models
from neuralab.serve.backends import Backend, load, model_name
from neuralab.serve.batching import MicroBatcher
from neuralab.data.preprocess import Preprocess
from neuralab.records import ModelCard
from neuralab.serve.preprocess import Limits
from neuralab.tasks import TASKS
from tests.serve.conftest import png


@pytest.fixture(scope="module")
def client(runs):
    app = create_app([runs["digits"], runs["moons"]], ServeConfig(limits=Limits(max_bytes=50_000,
                                                                                max_pixels=1_000_000)))
    with TestClient(app) as c:
        yield c


def _names(client):
    return {m["task"]: m["name"] for m in client.get("/v1/models").json()["models"]}


def test_models_health_and_docs(client):
    models = client.get("/v1/models").json()["models"]
    assert {m["task"] for m in models} == {"classification"}  # digits and moons are both classifiers
    assert any(m["input_shape"] == [1, 8, 8] for m in models)
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["ready"] is True
    assert client.get("/docs").status_code == 200
    assert "neuralab serve" in client.get("/").text


def _digits(client):
    return next(m["name"] for m in client.get("/v1/models").json()["models"] if m["input_shape"] == [1, 8, 8])


def _moons(client):
    return next(m["name"] for m in client.get("/v1/models").json()["models"] if m["input_shape"] != [1, 8, 8])


def test_image_prediction_is_a_distribution(client):
    r = client.post(f"/v1/models/{_digits(client)}/predict?top_k=3", files={"file": ("a.png", png())})
    assert r.status_code == 200, r.text
    top = r.json()["predictions"][0]["top"]
    assert len(top) == 3 and top[0]["probability"] >= top[1]["probability"]
    assert 0 < sum(t["probability"] for t in top) <= 1.0001


def test_features_prediction(client):
    r = client.post(f"/v1/models/{_moons(client)}/predict", json={"inputs": [[0.0, 0.5], [1.0, -0.5]]})
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == 2


@pytest.mark.parametrize("data, status, words", [
    (b"hello, not an image", 400, "not an image"),
    (png((64, 64), "RGB")[:200], 400, "truncated"),
    (png((200, 200), "RGB") + b"\0" * 60_000, 413, "bytes"),
    (b"", 400, "empty"),
    (png((200, 200), "RGB") + b"\0" * 200_000, 413, "upload is"),  # refused from Content-Length, unread
])
def test_bad_images_are_4xx_and_service_continues(client, data, status, words):
    name = _digits(client)
    r = client.post(f"/v1/models/{name}/predict", files={"file": ("x.png", data)})
    assert r.status_code == status and words in r.json()["error"], r.text
    assert client.post(f"/v1/models/{name}/predict", files={"file": ("a.png", png())}).status_code == 200


def test_pixel_limit_and_decompression_bomb(client):
    buf = io.BytesIO()
    Image.new("L", (2000, 2000)).save(buf, "PNG")  # 4 Mpx compresses to a few kB
    r = client.post(f"/v1/models/{_digits(client)}/predict", files={"file": ("bomb.png", buf.getvalue())})
    assert r.status_code == 413 and "pixels" in r.json()["error"]


@pytest.mark.parametrize("payload", [{"inputs": [[1.0, 2.0, 3.0]]}, {"x": 1}, {"inputs": [[1, "a"]]}, [1, 2]])
def test_wrong_json_shape(client, payload):
    r = client.post(f"/v1/models/{_moons(client)}/predict", json=payload)
    assert r.status_code == 422 and "inputs" in r.json()["error"]


def test_image_to_tabular_and_json_to_image_are_explained(client):
    assert "features" in client.post(f"/v1/models/{_moons(client)}/predict",
                                     files={"file": ("a.png", png())}).json()["error"]
    assert "image" in client.post(f"/v1/models/{_digits(client)}/predict", json={"inputs": [[1]]}).json()["error"]


def test_unknown_model_lists_known(client):
    r = client.post("/v1/models/nope/predict", files={"file": ("a.png", png())})
    assert r.status_code == 404 and set(r.json()["known"]) == {_digits(client), _moons(client)}


def test_served_names(runs, tmp_path):
    assert {n for n in load_models([runs["digits"], runs["moons"]], ServeConfig())} == {"digits-mlp", "moons-mlp"}
    assert model_name(runs["digits"] / "checkpoints" / "model.safetensors") == "digits-mlp"
    assert list(load_models([f"small={runs['digits']}"], ServeConfig())) == ["small"]
    odd = tmp_path / "a=b"  # an existing path with '=' in it is a path, not NAME=PATH ...
    shutil.copytree(runs["moons"], odd)
    with pytest.raises(NeuralabError, match="model name 'a=b'.*NAME=PATH"):  # ... whose name is no URL segment
        load_models([odd], ServeConfig())
    assert list(load_models([f"ok={odd}"], ServeConfig())) == ["ok"]


def test_name_collision_and_bad_names_are_clear_errors(runs):
    with pytest.raises(NeuralabError, match="two models would be served as 'digits-mlp'.*NAME=PATH"):
        load_models([runs["digits"], runs["digits"]], ServeConfig())
    with pytest.raises(NeuralabError, match="two models would be served as 'x'"):
        load_models([f"x={runs['digits']}", f"x={runs['moons']}"], ServeConfig())
    with pytest.raises(NeuralabError, match="model name 'a b'"):
        load_models([f"a b={runs['digits']}"], ServeConfig())


def test_inference_is_single_flight():
    """Two models of one service never run at once: each inference has the configured threads to itself."""
    lock, active, most = threading.Lock(), [0], [0]

    class Slow(Backend):
        def run(self, x):
            active[0] += 1
            most[0] = max(most[0], active[0])
            time.sleep(0.02)
            active[0] -= 1
            return x

    a, b = Slow(1, lock), Slow(1, lock)
    threads = [threading.Thread(target=f, args=(np.zeros((1, 1)),)) for f in (a, b) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1


def test_onnx_session_options(runs, tmp_path, monkeypatch):
    """Intra-op threads as configured, no spin-waiting, all graph optimizations; the temporary export is deleted."""
    import onnxruntime as ort

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    backend, _ = load(runs["digits"], "onnxruntime", threads=1)
    opts = backend.session.get_session_options()
    assert opts.intra_op_num_threads == 1 and opts.inter_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert list(tmp_path.iterdir()) == []
    assert backend(np.zeros((2, 1, 8, 8), np.float32)).shape == (2, 10)


def test_serve_cli_limits(monkeypatch, runs):
    from neuralab import cli

    seen = {}
    monkeypatch.setattr("neuralab.serve.app.serve", lambda refs, cfg: seen.update(cfg=cfg, refs=refs))
    assert cli.main(["serve", str(runs["digits"]), "--max-upload-mb", "2", "--max-pixels", "4000000",
                     "--threads", "1"]) == 0
    assert seen["cfg"].limits == Limits(max_bytes=2 * 1024 * 1024, max_pixels=4_000_000)
    assert seen["cfg"].threads == 1
    assert cli.main(["serve", str(runs["digits"])]) == 0
    assert seen["cfg"].limits == Limits()  # defaults: 10 MiB, 40 Mpx
    assert cli.main(["serve", str(runs["digits"]), "--max-pixels", "0"]) == 2
    for bad in (["--queue", "0"], ["--port", "70000"], ["--max-batch", "0"], ["--threads", "-1"]):
        assert cli.main(["serve", str(runs["digits"]), *bad]) == 2, bad


def test_serve_cli_engine_and_backend(monkeypatch, runs, capsys):
    from neuralab import cli

    seen = {}
    monkeypatch.setattr("neuralab.serve.app.serve", lambda refs, cfg: seen.update(cfg=cfg))
    for args, engine in (([], "auto"), (["--backend", "onnxruntime"], "onnxruntime"),
                         (["--engine", "onnxruntime-int8"], "onnxruntime-int8"),
                         (["--engine", "torch", "--backend", "torch"], "torch")):
        assert cli.main(["serve", str(runs["digits"]), *args]) == 0
        assert seen["cfg"].engine == engine, args
    assert cli.main(["serve", str(runs["digits"]), "--engine", "torch-bf16", "--backend", "torch"]) == 2
    assert "disagree" in capsys.readouterr().err


def test_full_queue_answers_503_with_retry_after(runs):
    pre = Preprocess((2,), (0.0, 0.0), (1.0, 1.0), 1.0)

    def slow(x):
        time.sleep(0.3)
        return np.zeros((len(x), 2), np.float32)

    card = ModelCard("mlp", "classification", (2,), 2, pre, classes=("a", "b"))
    served = {"slow": Served("slow", card, TASKS.get("classification"), MicroBatcher(slow, max_batch=1, queue_size=1),
                             "test")}
    app = create_app([], served=served)
    import concurrent.futures as cf
    with TestClient(app) as c, cf.ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda _: c.post("/v1/models/slow/predict", json={"inputs": [[0, 0]]}), range(6)))
    statuses = sorted(r.status_code for r in codes)
    assert 503 in statuses and 200 in statuses, statuses
    busy = next(r for r in codes if r.status_code == 503)
    assert busy.headers["retry-after"] == "1" and "queue" in busy.json()["error"]


def test_batcher_groups_concurrent_requests():
    sizes = []

    def fn(x):
        sizes.append(len(x))
        time.sleep(0.05)
        return x

    import asyncio

    b = MicroBatcher(fn, max_batch=8, max_wait_ms=20)

    async def burst():
        return await asyncio.gather(*(b(np.full((1, 1), i, np.float32)) for i in range(8)))

    out = asyncio.run(burst())
    assert [float(o[0, 0]) for o in out] == list(range(8))  # each caller gets its own row back
    assert max(sizes) > 1


def test_docs_show_the_upload_as_a_file_field_and_json_features_as_a_table():
    from fastapi.testclient import TestClient

    spec = TestClient(create_app([], served={})).get("/openapi.json").json()
    body = spec["paths"]["/v1/models/{name}/predict"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"
    assert "inputs" in body["application/json"]["schema"]["properties"]
