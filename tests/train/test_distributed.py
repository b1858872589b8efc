"""torchrun on CPU (gloo): the same result as one process, and preemption (SIGTERM) / SIGKILL + --resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

ARGS = ["train", "--dataset", "moons", "--n-samples", "1000", "--epochs", "3", "--batch-size", "64",
        "--model-args", "hidden=32,32", "--seed", "3", "--lr", "0.01"]


def env(tmp_path: Path) -> dict:
    e = {**os.environ, "NEURALAB_RUNS": str(tmp_path / "runs"), "NEURALAB_CACHE": str(tmp_path / "cache"),
         "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    e.pop("CI", None)
    return e


def neuralab(*args: str) -> list[str]:
    return [sys.executable, "-m", "neuralab", *args]


def torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "neuralab",
            *args]


def weights(run_dir: Path, name: str = "last.safetensors") -> dict:
    return {k: v for k, v in load_file(run_dir / "checkpoints" / name).items() if k.startswith("model.")}


def only_run(runs: Path) -> Path:
    (run,) = [p for p in runs.iterdir() if (p / "config.json").exists()]
    return run


def test_two_cpu_ranks_match_one_process(tmp_path):
    single, multi = tmp_path / "single", tmp_path / "multi"
    subprocess.run(neuralab(*ARGS, "--runs-dir", str(single)), check=True, env=env(tmp_path), capture_output=True)
    out = subprocess.run(torchrun(*ARGS, "--runs-dir", str(multi)), env=env(tmp_path), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    a, b = only_run(single), only_run(multi)  # exactly one run directory: only rank 0 writes
    assert json.loads((b / "config.json").read_text())["world_size"] == 2
    wa, wb = weights(a), weights(b)
    for k in wa:
        np.testing.assert_allclose(wa[k], wb[k], rtol=1e-5, atol=1e-6, err_msg=k)
    ma = [json.loads(line) for line in (a / "metrics.jsonl").read_text().splitlines()]
    mb = [json.loads(line) for line in (b / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in ma] == [r["epoch"] for r in mb]
    np.testing.assert_allclose([r["loss"] for r in ma], [r["loss"] for r in mb], rtol=1e-5)


def _interrupt(cmd: list[str], tmp_path: Path, sig: int, runs: Path) -> subprocess.CompletedProcess:
    """Start a long run, wait for its first epoch checkpoint, then send `sig` mid-training."""
    proc = subprocess.Popen(cmd, env=env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if list(runs.glob("*/checkpoints/last.safetensors")):
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("no checkpoint appeared within 120 s")
    time.sleep(0.3)
    os.killpg(proc.pid, sig) if sig == signal.SIGKILL else proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


LONG = ["train", "--dataset", "digits", "--epochs", "6", "--batch-size", "8", "--model-args", "hidden=64 dropout=0.2",
        "--seed", "1", "--augment", "none"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_interrupted_run_resumes_to_identical_weights(tmp_path, sig):
    ref_runs, cut_runs = tmp_path / "ref", tmp_path / "cut"
    subprocess.run(neuralab(*LONG, "--runs-dir", str(ref_runs)), check=True, env=env(tmp_path), capture_output=True)
    done = _interrupt(neuralab(*LONG, "--runs-dir", str(cut_runs)), tmp_path, sig, cut_runs)
    if sig == signal.SIGTERM:
        assert done.returncode == 0 and "stopped by SIGTERM" in done.stderr, done.stderr[-2000:]
    else:
        assert done.returncode == -signal.SIGKILL
    run = only_run(cut_runs)
    out = subprocess.run(neuralab("train", "--resume", str(run)), env=env(tmp_path), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    wa, wb = weights(only_run(ref_runs)), weights(run)
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [e for e in range(1, 7) for _ in ("train", "val")]


def test_sigterm_under_torchrun_then_resume(tmp_path):
    long = [a if a != "6" else "8" for a in LONG]
    ref_runs, cut_runs = tmp_path / "ref", tmp_path / "cut"
    out = subprocess.run(torchrun(*long, "--runs-dir", str(ref_runs)), env=env(tmp_path), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    _interrupt(torchrun(*long, "--runs-dir", str(cut_runs)), tmp_path, signal.SIGTERM, cut_runs)
    run = only_run(cut_runs)
    out = subprocess.run(torchrun("train", "--resume", str(run)), env=env(tmp_path), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    wa, wb = weights(only_run(ref_runs)), weights(run)
    for k in wa:
        np.testing.assert_allclose(wa[k], wb[k], rtol=1e-5, atol=1e-6, err_msg=k)
