"""What every command shares: where things live (options -> Settings), and how a sub-command is declared."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

from neuralab.config import Settings
from neuralab.errors import CheckpointError, NeuralabError
from neuralab.runs import find_run


def settings(ns: argparse.Namespace) -> Settings:
    return Settings.resolve(runs_dir=getattr(ns, "runs_dir", None), data_dir=getattr(ns, "data_dir", None),
                            download=False if getattr(ns, "no_download", False) else None,
                            device=getattr(ns, "device", None), weights_dir=getattr(ns, "weights_dir", None))


def common_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("where things live")
    g.add_argument("--runs-dir", help="root of run directories (default: $NEURALAB_RUNS or ./runs)")
    g.add_argument("--data-dir", help="data root (default: $NEURALAB_DATA or ~/.cache/neuralab)")
    g.add_argument("--weights-dir", help="local pretrained checkpoints, e.g. torchvision's resnet18-f37072fd.pth "
                                         "(default: $NEURALAB_WEIGHTS or ~/.cache/neuralab/weights)")
    g.add_argument("--no-download", action="store_true", help="never download; fail if data is missing")
    g.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], help="training device (default: auto)")
    g.add_argument("--tensorboard", action="store_true", help="also log metrics for TensorBoard (<run>/tensorboard)")
    return p


def examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def sub(subs: Any, name: str, help: str, example_lines: Sequence[str], common: bool = True) -> argparse.ArgumentParser:
    return subs.add_parser(name, help=help, description=help, epilog=examples(*example_lines),
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           parents=[common_options()] if common else [])


def group(top: Any, name: str, help: str, dest: str) -> Any:
    """A verb with actions of its own (`neuralab data list`, `neuralab runs show`): their subparsers."""
    parser = top.add_parser(name, help=help, description=help)
    return parser.add_subparsers(dest=dest, metavar="ACTION", required=True)


def model_run(ref: str, ns: argparse.Namespace) -> Path:
    """A checkpoint file or run folder as given, else a run by name; an experiment's folder leads to the one model
    run inside it (or the error lists them), since `runs list` shows experiment folders."""
    p = Path(ref)
    if not p.exists():
        try:
            p = find_run(ref, settings(ns).runs_dir).path
        except NeuralabError:
            raise CheckpointError(f"no checkpoint or run named {ref!r} (see `neuralab runs list`)") from None
    if p.is_dir() and not (p / "checkpoints" / "model.safetensors").is_file():
        inner = sorted(c.parent.parent for c in p.glob("runs/*/checkpoints/model.safetensors"))
        if len(inner) == 1:
            return inner[0]
        if inner:
            names = "\n  ".join(str(c) for c in inner)
            raise CheckpointError(f"{p} is an experiment with {len(inner)} model runs; name one:\n  {names}")
    return p
