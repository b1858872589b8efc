"""`neuralab runs list | show | compare` and `neuralab report`: reading run folders."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from neuralab.commands.common import group, settings, sub


def cmd_list(ns: argparse.Namespace) -> int:
    from neuralab.runs import list_runs

    s = settings(ns)
    runs = list_runs(s.runs_dir)
    if not runs:
        print(f"no runs in {s.runs_dir}")
    for r in runs:
        cfg = r.config()
        what = cfg.get("experiment") or cfg.get("command", "")
        print(f"  {r.name:50s} {what:18s} {r.summary().headline}")
    return 0


def cmd_show(ns: argparse.Namespace) -> int:
    from neuralab.runs import find_run

    run = find_run(ns.run, settings(ns).runs_dir)
    print(f"run: {run.path}")
    print("config:", json.dumps(run.config().get("config", run.config()), indent=2))
    print("summary:", json.dumps(run.summary().to_json(), indent=2))
    for row in run.metrics()[-4:]:
        print("metrics:", json.dumps(row.to_json()))
    files = sorted(str(p.relative_to(run.path)) for p in run.path.rglob("*") if p.is_file())
    print("files:", ", ".join(files[:40]) + (" ..." if len(files) > 40 else ""))
    return 0


def cmd_compare(ns: argparse.Namespace) -> int:
    from neuralab.report.compare import compare_figure, compare_table
    from neuralab.report.markdown import table
    from neuralab.files import atomic_write_bytes
    from neuralab.runs import figure_png, find_run

    s = settings(ns)
    runs = [find_run(r, s.runs_dir) for r in ns.runs]
    header, rows = compare_table(runs)
    print(table(header, rows))
    out = Path(ns.out)
    atomic_write_bytes(out, figure_png(compare_figure(runs)))
    print(f"curves: {out}")
    return 0


def cmd_report(ns: argparse.Namespace) -> int:
    from neuralab.report.site import build_site

    paths = [Path(p) for p in ns.runs] or [settings(ns).runs_dir]
    print(f"report: {build_site(paths, Path(ns.out))}")
    return 0


def register(top: Any) -> None:
    rs = group(top, "runs", "list and inspect run directories", "runs_command")
    p = sub(rs, "list", "every run under the runs folder with its headline number", ["neuralab runs list"])
    p.set_defaults(func=cmd_list)
    p = sub(rs, "show", "a run's config, summary, last metrics and files",
            ["neuralab runs show quickstart", "neuralab runs show runs/20260101-120000-digits-mlp"])
    p.add_argument("run", help="run directory, its name, or the end of its name (newest match)")
    p.set_defaults(func=cmd_show)
    p = sub(rs, "compare", "final metrics side by side and overlaid validation curves of several runs",
            ["neuralab runs compare digits-mlp moons-mlp", "neuralab runs compare RUN_A RUN_B --out cmp.png"])
    p.add_argument("runs", nargs="+", help="runs (directories, names or name endings)")
    p.add_argument("--out", default="compare.png", help="where to write the overlaid curves (PNG)")
    p.set_defaults(func=cmd_compare)
    p = sub(top, "report", "build the static HTML portfolio (open index.html) from run directories",
            ["neuralab report", "neuralab report runs/ --out report/", "neuralab report runs/20260101-120000-mnist"])
    p.add_argument("runs", nargs="*", help="run directories or folders of runs (default: the runs folder)")
    p.add_argument("--out", default="report", help="output folder (default: report/)")
    p.set_defaults(func=cmd_report)
