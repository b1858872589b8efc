"""Checkpoints are validated, not trusted: a crafted or damaged file is one line naming the file and what is wrong,
before anything is allocated, and never an unpickle."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save as st_save

from neuralab.data.preprocess import Preprocess
from neuralab.errors import CheckpointError
from neuralab.models import create_model
from neuralab.models.checkpoint import CARD_KEY, load_model, save_model
from neuralab.records import ModelCard

GOOD = ModelCard("mlp", "classification", (1, 8, 8), 10, Preprocess((1, 8, 8), (0.3,), (0.2,)), {"hidden": [16]})


def crafted(path, card_json) -> str:
    tensors = {k: v.contiguous() for k, v in create_model("mlp", (1, 8, 8), 10, hidden=[16]).state_dict().items()}
    path.write_bytes(st_save(tensors, metadata={CARD_KEY: card_json if isinstance(card_json, str) else
                                                json.dumps(card_json)}))
    return str(path)


def test_a_good_card_round_trips(tmp_path):
    model = create_model("mlp", (1, 8, 8), 10, hidden=[16])
    loaded, card = load_model(save_model(tmp_path / "m.safetensors", model, GOOD))
    assert card == GOOD
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(model.eval()(x), loaded(x))


@pytest.mark.parametrize("change, message", [
    ({"args": {"hidden": [100000, 100000]}}, r"cannot be built .*hidden must be in \[1, 65536\]"),
    ({"args": {"hidden": "abc"}}, "cannot be built .*hidden takes an integer"),
    ({"architecture": "resnet9000"}, "cannot be built .*unknown model 'resnet9000'"),
    ({"num_outputs": -3}, r"num_outputs must be in \[1, 100,000\]"),
    ({"num_outputs": "ten"}, "num_outputs' must be int"),
    ({"input_shape": [1, 8, 8, 8, 8], "preprocess": {"input_shape": [1, 8, 8, 8, 8], "mean": [0], "std": [1]}},
     r"input_shape must be \(C, H, W\) or \(F,\)"),
    ({"input_shape": [3, 100000, 100000],
      "preprocess": {"input_shape": [3, 100000, 100000], "mean": [0] * 3, "std": [1] * 3}}, "sides <= 16384"),
    ({"input_shape": [3, 8, 8]}, r"input_shape \[3, 8, 8\] differs from its preprocessing's \[1, 8, 8\]"),
    ({"preprocess": {"input_shape": [1, 8, 8], "mean": [0.3], "std": [0.0]}}, "std finite and > 0"),
    ({"version": 99}, "model card version 99"),
    ({"task": 7}, "'task' must be str"),
])
def test_a_crafted_card_is_one_line_naming_file_and_field(tmp_path, change, message):
    path = crafted(tmp_path / "evil.safetensors", {**GOOD.to_json(), **change})
    with pytest.raises(CheckpointError, match=message) as e:
        load_model(path)
    assert "evil.safetensors" in str(e.value)


def test_invalid_json_metadata_and_damaged_files(tmp_path):
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(crafted(tmp_path / "a.safetensors", "{not json"))
    data = (tmp_path / "a.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:8])
    with pytest.raises(CheckpointError, match="cut.safetensors"):
        load_model(tmp_path / "cut.safetensors")
    (tmp_path / "huge.safetensors").write_bytes((2**40).to_bytes(8, "little") + b"{}")
    with pytest.raises(CheckpointError, match="header length"):
        load_model(tmp_path / "huge.safetensors")
    (tmp_path / "pickle.safetensors").write_bytes(b"\x80\x04\x95" + b"\0" * 50)
    with pytest.raises(CheckpointError):
        load_model(tmp_path / "pickle.safetensors")
