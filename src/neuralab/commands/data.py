"""`neuralab data list | info NAME | check NAME`."""

from __future__ import annotations

import argparse
import json
from typing import Any

from neuralab.commands.common import group, settings, sub


def cmd_list(ns: argparse.Namespace) -> int:
    from neuralab.data import DATASETS
    from neuralab.data.registry import options

    opts = options(settings(ns))
    print(f"data root: {opts.data_dir}")
    for name, spec in DATASETS.items():
        if spec.kind in ("generated", "bundled"):
            status = spec.kind
        elif spec.kind == "custom":
            status = "your folder"
        else:
            status = "available" if not spec.missing_files(opts) else "missing (download or place files)"
        print(f"  {name:20s} {spec.task:15s} {status:34s} {spec.description}")
    return 0


def cmd_info(ns: argparse.Namespace) -> int:
    from neuralab.data import load_dataset

    print(json.dumps(load_dataset(ns.name, settings(ns)).describe(), indent=2))
    return 0


def cmd_check(ns: argparse.Namespace) -> int:
    from neuralab.data import DATASETS, load_dataset, parse_name
    from neuralab.data.registry import options, verify_checksums

    s = settings(ns)
    base, arg = parse_name(ns.name)
    for line in verify_checksums(DATASETS.get(base), options(s, arg=arg)):
        print(line)
    d = load_dataset(ns.name, s)
    sizes = ", ".join(f"{k} {v}" for k, v in d.describe()["sizes"].items())
    print(f"ok: {d.name} loads from {d.source}: {sizes}; input {d.input_shape}")
    for note in d.notes:
        print(f"note: {note}")
    return 0


def register(top: Any) -> None:
    dsub = group(top, "data", "list, inspect and check datasets", "data_command")
    p = sub(dsub, "list", "registered datasets, their task, and whether their files are present", ["neuralab data list"])
    p.set_defaults(func=cmd_list)
    for name, fn, help in (("info", cmd_info, "load a dataset and print its splits, classes and statistics"),
                           ("check", cmd_check, "verify a dataset's files (checksums where published) and load it")):
        p = sub(dsub, name, help, [f"neuralab data {name} moons", f"neuralab data {name} mnist --data-dir ~/data",
                                   f"neuralab data {name} imagefolder:./my_photos"])
        p.add_argument("name", help="dataset name, or imagefolder:PATH")
        p.set_defaults(func=fn)
