import argparse
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import pytest

from neuralab.config import (Config, Settings, add_arguments, apply_quick, flat_fields, from_args, from_dict, option,
                             to_dict)
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
    cfg = TrainConfig.of(dataset="moons", epochs=3, classes=["a", "b"], model_args="hidden=8,4 dropout=0.1")
    assert from_dict(TrainConfig, to_dict(cfg)) == cfg
    assert cfg.model.kwargs == {"hidden": [8, 4], "dropout": 0.1}
    assert cfg.data.dataset == "moons" and cfg.schedule.epochs == 3
    with pytest.raises(ConfigError, match="epochs must be >= 1 and <= 100,000. Received: epochs=0"):
        TrainConfig.of(epochs=0)
    with pytest.raises(ConfigError, match="key=value"):
        TrainConfig.of(model_args="hidden")


@pytest.mark.parametrize("flat, message", [
    ({"lr": float("nan")}, "lr must be a finite number"), ({"lr": float("inf")}, "lr must be a finite number"),
    ({"lr": 0.0}, "lr must be > 0"), ({"lr": -1.0}, "lr must be > 0"),
    ({"grad_clip": -1.0}, "grad_clip must be >= 0"), ({"weight_decay": -0.1}, "weight_decay must be >= 0"),
    ({"momentum": 1.5}, "momentum must be >= 0 and <= 0.9999"), ({"warmup_epochs": -1.0}, "warmup_epochs must be"),
    ({"limit_train": -5}, "limit_train must be >= 0"), ({"early_stop": -1}, "early_stop must be >= 0"),
    ({"n_samples": -1}, "n_samples must be >= 0"), ({"batch_size": 0}, "batch_size must be >= 1"),
    ({"augment": "crop=-3"}, "crop takes a whole number from 1 to 64"), ({"optimizer": "lbfgs"}, "optimizer takes one of"),
    ({"epochs": 2.5}, "epochs takes an integer"), ({"name": "a/../../x"}, "a run name may hold"),
])
def test_every_numeric_option_is_range_checked_where_declared(flat, message):
    """The CLI, the Python API and --resume share these rules: they live in the config, not in the parser."""
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        TrainConfig.of(**flat)


def test_sections_flatten_to_the_familiar_options():
    table = flat_fields(TrainConfig)
    assert table["model"][0] == ("model", "name") and table["model_args"][0] == ("model", "args")
    assert table["lr"][0] == ("optim", "lr") and table["epochs"][0] == ("schedule", "epochs")
    p = argparse.ArgumentParser()
    add_arguments(p, TrainConfig)
    cfg = from_args(TrainConfig, p.parse_args(["--dataset", "moons", "--model", "cnn", "--model-args", "depth=2",
                                               "--lr", "0.5", "--epochs", "4"]))
    assert (cfg.data.dataset, cfg.model.name, cfg.model.args, cfg.optim.lr, cfg.schedule.epochs) == \
        ("moons", "cnn", "depth=2", 0.5, 4)
    with pytest.raises(ConfigError, match="no option"):
        TrainConfig.of(learning_rate=1.0)


@dataclass
class Quickish(Config):
    epochs: int = option(10, "epochs", min=1)
    seeds: int = option(3, "seeds", min=1)
    lr: float = option(0.1, "rate")
    QUICK: ClassVar[dict[str, Any]] = {"epochs": 2, "seeds": lambda n: min(n, 2)}


def test_quick_overrides_apply_once_and_only_to_defaults():
    assert apply_quick(Quickish()) == Quickish(epochs=2, seeds=2)
    assert apply_quick(Quickish(epochs=7)).epochs == 7  # what the user set wins
    assert apply_quick(Quickish(seeds=1)).seeds == 1


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
