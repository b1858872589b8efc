"""A real SIGKILL of a training subprocess mid-epoch, then `--resume`: same final weights as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from neuralab.models.checkpoint import STATE_KEY, read_metadata, read_tensors

ARGS = ["--dataset", "digits", "--model-args", "hidden=256,256", "--epochs", "3", "--batch-size", "4",
        "--seed", "3", "--device", "cpu"]


def _cli(runs: Path, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src"), "NEURALAB_RUNS": str(runs),
           "CI": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "neuralab", "train", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in read_tensors(run_dir / "checkpoints" / "last.safetensors").items() if k.startswith("model.")}


def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    runs = tmp_path / "runs"
    full = _cli(runs, *ARGS, "--name", "full")
    assert full.wait(timeout=300) == 0, full.stdout.read()

    victim = _cli(runs, *ARGS, "--name", "victim")
    deadline = time.time() + 240
    ckpt = None
    while time.time() < deadline and victim.poll() is None:
        found = list(runs.glob("*victim/checkpoints/last.safetensors"))
        if found:
            ckpt = found[0]
            time.sleep(0.3)  # well inside epoch 2
            break
        time.sleep(0.05)
    assert ckpt is not None and victim.poll() is None, "the run ended before it could be killed"
    os.kill(victim.pid, signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL
    run_dir = ckpt.parents[1]
    assert read_metadata(ckpt)[STATE_KEY]  # a complete checkpoint survived the kill

    resumed = _cli(runs, "--resume", run_dir.name)
    out = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, out
    assert "resumed" in out
    full_dir = next(runs.glob("*full"))
    a, b = _weights(full_dir), _weights(run_dir)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
