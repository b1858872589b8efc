import json
import subprocess
import sys

import numpy as np
import pytest

from neuralab.cli import build_parser, main


def all_commands():
    """Every (sub)command path, read from the parser itself, so a new command is tested for --help at once."""
    paths = []

    def walk(parser, prefix):
        for action in parser._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for name, sub in action.choices.items():
                    paths.append(prefix + [name])
                    walk(sub, prefix + [name])

    walk(build_parser(), [])
    return paths


def test_console_script_help_lists_everything():
    out = subprocess.run([sys.executable, "-m", "neuralab", "--help"], capture_output=True, text=True, check=True).stdout
    for cmd in ("data", "train", "run", "runs"):
        assert cmd in out


@pytest.mark.parametrize("path", all_commands(), ids=lambda p: " ".join(p))
def test_every_command_has_help_with_examples(path, capsys):
    with pytest.raises(SystemExit) as e:
        main(path + ["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "usage:" in out
    if path[0] != "run" or len(path) > 1:  # leaf commands show how to use them
        assert "example" in out or len(path) == 1


def test_data_info_generated(capsys):
    assert main(["data", "info", "moons"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sizes"] == {"train": 700, "val": 150, "test": 150} and info["classes"] == ["upper", "lower"]


def test_missing_data_is_one_clear_message_not_a_traceback(capsys):
    assert main(["data", "info", "mnist", "--no-download"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: mnist not found") and "train-images-idx3-ubyte.gz" in err
    assert "Traceback" not in err


def test_unknown_dataset_suggests(capsys):
    assert main(["data", "info", "moon"]) == 2
    assert "Did you mean: moons" in capsys.readouterr().err


def test_data_list_and_check(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "mnist" in out and "missing" in out and "generated" in out
    assert main(["data", "check", "digits"]) == 0
    assert "ok: digits" in capsys.readouterr().out


def test_train_writes_a_complete_run_directory_and_repeats_bit_for_bit(tmp_path, capsys):
    from safetensors.numpy import load_file

    args = ["train", "--dataset", "moons", "--epochs", "3", "--model-args", "hidden=16", "--seed", "7",
            "--batch-size", "32"]
    assert main(args + ["--runs-dir", str(tmp_path / "a")]) == 0
    assert main(args + ["--runs-dir", str(tmp_path / "b")]) == 0
    (a,), (b,) = (list((tmp_path / d).iterdir()) for d in ("a", "b"))
    for f in ("config.json", "metrics.jsonl", "summary.json", "report.md", "plots/curves.png",
              "checkpoints/model.safetensors", "checkpoints/model.json", "checkpoints/last.safetensors"):
        assert (a / f).is_file(), f
    cfg = json.loads((a / "config.json").read_text())
    assert cfg["command"] == "train" and cfg["config"]["seed"] == 7 and cfg["config"]["schedule"]["epochs"] == 3
    rows = [json.loads(line) for line in (a / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["split"]) for r in rows] == [(e, s) for e in (1, 2, 3) for s in ("train", "val")]
    assert set(rows[0]) >= {"loss", "metrics", "lr", "seconds"}
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    rows_b = [json.loads(line) for line in (b / "metrics.jsonl").read_text().splitlines()]
    assert strip(rows) == strip(rows_b)
    wa, wb = load_file(a / "checkpoints/model.safetensors"), load_file(b / "checkpoints/model.safetensors")
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)


def test_runs_list_and_show(tmp_path, capsys):
    assert main(["train", "--dataset", "xor", "--epochs", "1", "--runs-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["runs", "list", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "xor-mlp" in out and "test accuracy" in out
    assert main(["runs", "show", "xor-mlp", "--runs-dir", str(tmp_path)]) == 0
    assert '"dataset": "xor"' in capsys.readouterr().out


def test_bad_option_value_is_a_clear_error_and_creates_no_run_folder(tmp_path, capsys):
    for bad in (["--epochs", "0"], ["--lr", "nan"], ["--grad-clip", "-1"], ["--model-args", "hidden=abc"],
                ["--name", "a/../../x"], ["--augment", "crop=-3"]):
        assert main(["train", "--dataset", "moons", "--runs-dir", str(tmp_path), *bad]) == 2, bad
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []


def test_train_on_a_detection_dataset_trains_a_detector(tmp_path, capsys):
    """`neuralab train --dataset shapes-det` ended in AttributeError: 'DetDataset' object has no attribute
    'num_outputs'; the task of the dataset now picks the trainer."""
    assert main(["train", "--dataset", "shapes-det", "--n-samples", "40", "--epochs", "1", "--batch-size", "8",
                 "--image-size", "64", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "mAP@0.5" in out and "run directory" in out
    (run,) = tmp_path.iterdir()
    assert json.loads((run / "config.json").read_text())["command"] == "train-detector"
    assert main(["train", "--dataset", "shapes-det", "--augment", "flip", "--runs-dir", str(tmp_path)]) == 2
    assert "--augment apply to classifiers only" in capsys.readouterr().err


def test_resume_continues_to_more_epochs_and_refuses_other_changes(tmp_path, capsys):
    assert main(["train", "--dataset", "xor", "--epochs", "2", "--runs-dir", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    assert main(["train", "--resume", str(run), "--epochs", "3", "--runs-dir", str(tmp_path)]) == 0
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(epochs) == 3 and json.loads((run / "summary.json").read_text())["epochs_run"] == 3
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--lr", "0.5", "--runs-dir", str(tmp_path)]) == 2
    assert "only --epochs may change" in capsys.readouterr().err


def test_resume_with_a_hand_edited_invalid_config_names_the_field(tmp_path, capsys):
    assert main(["train", "--dataset", "xor", "--epochs", "1", "--runs-dir", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    cfg = json.loads((run / "config.json").read_text())
    cfg["config"]["optim"]["lr"] = "fast"
    (run / "config.json").write_text(json.dumps(cfg))
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "lr takes a number. Received: lr='fast'" in err and "config.json" in err
