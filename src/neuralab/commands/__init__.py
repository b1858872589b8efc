"""The `neuralab` command's verbs, one module each. Each module's `register(subparsers)` declares its options
(from config dataclasses where a config exists); its `cmd_*` functions parse nothing themselves: they build a
config and call the library. Library modules are imported inside the functions, so `neuralab --help` and a
command that needs little stay fast.
"""

from __future__ import annotations

import argparse

from neuralab import __version__
from neuralab.commands import data, explain, predict, run, runs, serve, train
from neuralab.commands.common import examples

VERBS = (data, train, run, predict, explain, runs, serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neuralab", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="neuralab: a deep-learning curriculum as tested, fast, runnable commands.",
        epilog=examples("neuralab data list", "neuralab train --dataset digits --epochs 5",
                        "neuralab run demo", "neuralab runs list"))
    parser.add_argument("--version", action="version", version=f"neuralab {__version__}")
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for verb in VERBS:
        verb.register(top)
    return parser
