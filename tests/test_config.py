import argparse
from dataclasses import dataclass
from typing import Literal

import pytest

from neuralab.config import Settings, add_arguments, from_args, from_dict, option, to_dict
from neuralab.errors import ConfigError
from neuralab.train.config import TrainConfig, parse_model_args


@dataclass
class Demo:
    epochs: int = option(3, "passes")
    lr: float = option(0.1, "rate")
    name: str = option("x", "name")
    fast: bool = option(False, "go fast")
    sizes: list[int] = option([1, 2], "sizes")
    mode: Literal["a", "b"] = option("a", "mode")


def parse(*argv: str) -> Demo:
    p = argparse.ArgumentParser()
    add_arguments(p, Demo)
    return from_args(Demo, p.parse_args(list(argv)))


def test_defaults_kept_when_options_absent():
    assert parse() == Demo()


def test_every_field_type_parses():
    d = parse("--epochs", "7", "--lr", "0.5", "--name", "y", "--fast", "--sizes", "4,5,6", "--mode", "b")
    assert d == Demo(epochs=7, lr=0.5, name="y", fast=True, sizes=[4, 5, 6], mode="b")
    assert parse("--no-fast").fast is False


def test_bad_values_are_rejected_by_the_parser():
    with pytest.raises(SystemExit):
        parse("--mode", "c")
    with pytest.raises(SystemExit):
        parse("--sizes", "1,x")


def test_json_round_trip_and_unknown_keys():
    d = Demo(epochs=9, sizes=[3])
    assert from_dict(Demo, to_dict(d)) == d
    with pytest.raises(ConfigError, match="no field"):
        from_dict(Demo, {"epochs": 1, "typo": 2})


def test_train_config_round_trips_and_validates():
    cfg = TrainConfig(dataset="moons", epochs=3, classes=["a", "b"], model_args="hidden=8,4 dropout=0.1")
    assert from_dict(TrainConfig, to_dict(cfg)) == cfg
    assert cfg.model_kwargs == {"hidden": [8, 4], "dropout": 0.1}
    with pytest.raises(ConfigError, match="epochs must be >= 1. Received: epochs=0"):
        TrainConfig(epochs=0)
    with pytest.raises(ConfigError, match="key=value"):
        TrainConfig(model_args="hidden")


def test_parse_model_args_types():
    assert parse_model_args("a=1 b=0.5 c=true d=relu e=1,2") == {"a": 1, "b": 0.5, "c": True, "d": "relu", "e": [1, 2]}


def test_settings_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("NEURALAB_RUNS", str(tmp_path / "env-runs"))
    monkeypatch.setenv("NEURALAB_DATA", str(tmp_path / "env-data"))
    monkeypatch.delenv("NEURALAB_NO_DOWNLOAD", raising=False)
    s = Settings.resolve()
    assert s.runs_dir == tmp_path / "env-runs" and s.data_dir == tmp_path / "env-data" and s.download
    s = Settings.resolve(runs_dir=tmp_path / "cli", data_dir=tmp_path / "d", download=False)
    assert s.runs_dir == tmp_path / "cli" and s.data_dir == tmp_path / "d" and not s.download
    monkeypatch.delenv("NEURALAB_RUNS")
    assert Settings.resolve().runs_dir.name == "runs"
