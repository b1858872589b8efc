"""int8 and bf16 exports of a small trained CNN: they run, agree with fp32, record their accuracy check; the guard
refuses a broken calibration; the service picks the fastest export that passed and reports it in /v1/models."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
import torch
from fastapi.testclient import TestClient

from neuralab import cli
from neuralab.data import load_dataset
from neuralab.errors import NeuralabError
from neuralab.models.checkpoint import load_model
from neuralab.serve.app import ServeConfig, create_app, describe, load_models
from neuralab.serve.backends import load
from neuralab.serve.export import export
from neuralab.tasks import dense
from neuralab.tasks.precision import ExportOptions
from tests.serve.conftest import png


@pytest.fixture(scope="module")
def exported(image_run, tmp_path_factory):
    """A copy of the trained run with its int8 and bf16 exports (RUN/export-int8, RUN/export-bf16)."""
    run, s = image_run
    copy = tmp_path_factory.mktemp("exported") / run.name
    shutil.copytree(run, copy)
    for precision in ("int8", "bf16"):
        export(copy, options=ExportOptions(precision=precision), settings=s)
    return copy, s


def _test_split(run, s):
    _, card = load_model(run)
    test = load_dataset(card.dataset, s).test
    return card.preprocess.normalize(test.x), test.y


def _side(folder):
    return json.loads((folder / "serve.json").read_text())


def _agreement(a, b) -> float:
    return float((a.argmax(1) == b.argmax(1)).mean())


def test_int8_export_is_static_qdq_per_channel_runs_in_ort_and_agrees_with_fp32(exported):
    run, s = exported
    folder = run / "export-int8"
    graph = onnx.load(str(folder / "model.onnx")).graph
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in graph.node}
    int8 = {t.name: t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8}
    scales = {t.name: t for t in graph.initializer}
    conv_scales = [scales[n.input[1]] for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] in int8
                   and len(int8[n.input[0]].dims) == 4]
    assert conv_scales and all(len(sc.dims) == 1 and sc.dims[0] > 1 for sc in conv_scales)  # one per filter
    backend, _ = load(folder)
    fp32, _ = load(run, "torch")
    assert (backend.engine, backend.precision) == ("onnxruntime-int8", "int8")
    x, y = _test_split(run, s)
    assert _agreement(backend(x), fp32(x)) >= 0.95
    check = _side(folder)["check"]
    assert check["passed"] and check["examples"] == len(y) == 80 and check["agreement"] >= 0.95
    assert check["fp32_accuracy"] == pytest.approx(float((fp32(x).argmax(1) == y).mean()))
    assert _side(folder)["quantization"]["calibration"] == "minmax"


def test_bf16_export_computes_in_bf16_and_agrees_with_fp32(exported):
    run, s = exported
    backend, _ = load(run / "export-bf16")
    fp32, _ = load(run, "torch")
    assert (backend.engine, backend.precision) == ("torch-bf16", "bf16")
    assert backend.runner.dtype == torch.bfloat16 and backend.runner.channels_last  # TorchScript convs found too
    x, _ = _test_split(run, s)
    a, b = backend(x), fp32(x)
    assert a.dtype == np.float32 and not np.array_equal(a, b)
    assert np.abs(a - b).max() < 0.02 * np.abs(b).max()  # bf16 keeps 8 bits of mantissa: ~0.4% here
    assert _agreement(a, b) >= 0.95
    check = _side(run / "export-bf16")["check"]
    assert check["passed"] and check["agreement"] >= 0.95


def test_guard_refuses_a_broken_calibration_and_force_overrides(image_run, tmp_path, monkeypatch):
    run, s = image_run
    copy = tmp_path / run.name
    shutil.copytree(run, copy)
    real = dense.export_int8
    monkeypatch.setattr(dense, "export_int8", lambda model, card, out, calibration, test, options: real(
        model, card, out, np.zeros_like(calibration), test, options))  # every calibration image the mean colour
    with pytest.raises(NeuralabError) as e:
        export(copy, options=ExportOptions(precision="int8"), settings=s)
    message = str(e.value)
    assert "\n" not in message and "points below fp32" in message and "--max-drop" in message and "--force" in message
    assert not (copy / "export-int8").exists()  # nothing left behind
    folder = export(copy, options=ExportOptions(precision="int8", force=True), settings=s)
    check = _side(folder)["check"]
    assert check["passed"] is False and check["forced"] is True and check["drop_points"] > 1
    assert load(copy)[0].engine == "torch"  # auto never serves a failed check...
    [served] = load_models([copy], ServeConfig(engine="onnxruntime-int8")).values()  # ...a named engine does,
    assert served.check["forced"] is True  # and the start-up line says so
    assert describe(served) == f"pets-cnn (onnxruntime-int8, top-1 {100 * check['accuracy']:.1f}%, FAILED its " \
                               f"accuracy check, served because named)"


def test_service_picks_the_fastest_passed_engine_and_reports_it(exported, runs):
    run, _ = exported
    app = create_app([run, f"ref={run}", runs["digits"]], ServeConfig())
    with TestClient(app) as c:
        models = {m["name"]: m for m in c.get("/v1/models").json()["models"]}
        r = c.post("/v1/models/pets-cnn/predict", files={"file": ("a.png", png((16, 16), "RGB"))})
    fast, plain = models["pets-cnn"], models["digits-mlp"]
    assert (fast["engine"], fast["precision"], fast["backend"]) == ("onnxruntime-int8", "int8", "onnxruntime")
    assert fast["accuracy"] == fast["accuracy_check"]["accuracy"] and fast["accuracy_check"]["passed"]
    assert (plain["engine"], plain["precision"]) == ("torch", "fp32")  # no exports: the run itself
    assert plain["accuracy"] == plain["metrics"]["accuracy"] and plain["accuracy_check"] is None
    assert r.status_code == 200, r.text
    app = create_app([run], ServeConfig(engine="torch-bf16"))
    with TestClient(app) as c:
        [m] = c.get("/v1/models").json()["models"]
    assert (m["engine"], m["precision"]) == ("torch-bf16", "bf16") and m["accuracy_check"]["passed"]


def test_export_cli_options_and_refusals(image_run, tmp_path, capsys):
    run, s = image_run
    out = tmp_path / "int8"
    assert cli.main(["export", str(run), "--precision", "int8", "--calibration", "entropy", "--calibration-images",
                     "16", "--max-drop", "5", "--out", str(out), "--data-dir", str(s.data_dir)]) == 0
    printed = capsys.readouterr().out
    assert "accuracy on 80 test examples" in printed and "against fp32" in printed
    quant = _side(out)["quantization"]
    assert quant["calibration"] == "entropy" and quant["calibration_examples"] == 16
    assert cli.main(["export", str(run), "--precision", "int8", "--format", "torchscript"]) == 2
    assert "--format onnx" in capsys.readouterr().err
    assert cli.main(["export", str(run), "--precision", "int8", "--max-drop", "-1"]) == 2
    assert "max_drop" in capsys.readouterr().err
