"""`neuralab report`: a static HTML site (open index.html, no server) built from run directories.

One page per experiment run: what was done (the experiment's description), its report.md (tables, plots,
generated conclusions), findings computed from its curves, the config, and a link to the run directory. The front
page leads with the three mini-projects and their headline numbers. Images are copied next to the pages, so the
site stays whole when moved.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import markdown

from neuralab.report.findings import curve_findings
from neuralab.runs import Run, atomic_write_text

# (title, experiments that can stand for it, in order of preference)
MINI_PROJECTS = [("Mini-project 1: MNIST", ("mnist",)), ("Mini-project 2: CIFAR-10", ("cifar10",)),
                 ("Mini-project 3: transfer learning, cats vs dogs", ("cats-dogs", "transfer-cifar"))]
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;
color:#1d2433;line-height:1.5}
a{color:#2a5db0} h1{margin-bottom:.2em} .muted{color:#667}
table{border-collapse:collapse;margin:1em 0} th,td{border:1px solid #ccd;padding:.3em .6em;text-align:left}
th{background:#f0f3f8} img{max-width:100%;border:1px solid #eee;margin:.5em 0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:1em}
.card{border:1px solid #ccd;border-radius:8px;padding:1em} .card .num{font-size:1.5em;font-weight:600}
.findings{background:#f6f8fb;border-left:4px solid #2a5db0;padding:.5em 1em} pre{background:#f6f8fb;padding:1em;
overflow:auto;font-size:.85em} img.thumb{max-width:220px;max-height:140px;display:block;margin-top:.5em}
.banner{background:#fff6e0;border-left:4px solid #e0a000;padding:.5em 1em}
"""
QUICK_BANNER = ("<p class='banner'><b>Quick tour — short runs.</b> Pages marked quick come from shortened runs "
                "(fewer epochs, seeds or variants): they show each lesson, not the best results. The full tour: "
                "<code>neuralab run all</code>.</p>")


@dataclass
class SitePage:
    run: Run
    experiment: str
    slug: str


def experiment_runs(paths: list[Path]) -> list[Run]:
    """Experiment runs under the given folders (nested ones inside demo/all runs too), newest per experiment."""
    found: dict[str, Run] = {}
    for root in paths:
        candidates = [root] if (root / "config.json").is_file() else []
        candidates += sorted(p.parent for p in root.glob("*/config.json"))
        candidates += sorted(p.parent for p in root.glob("*/runs/*/config.json"))
        for path in candidates:
            cfg = json.loads((path / "config.json").read_text())
            name = cfg.get("experiment")
            if name and name not in ("demo", "all") and (path / "summary.json").exists():
                if name not in found or path.name >= found[name].path.name:
                    found[name] = Run(path)
    return [found[k] for k in sorted(found)]


def _layout(title: str, body: str) -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'><style>{CSS}</style></head>"
            f"<body>{body}</body></html>\n")


def _copy_assets(run: Run, md: str, dest: Path) -> None:
    """Copy every image the report references (paths relative to the run) next to the page."""
    for ref in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        src = (run.path / ref).resolve()
        if src.is_file() and run.path.resolve() in src.parents:
            target = dest / ref
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)


def _description(run: Run) -> str:
    """What the experiment is, as its run recorded it (the report reads run folders, never the code)."""
    return str(run.config().get("description", ""))


def experiment_findings(run: Run) -> list[str]:
    """What the curves say, for runs whose page has no conclusions of its own (pages written by an experiment's
    render carry theirs in report.md)."""
    if run.summary().findings:
        return []
    findings = curve_findings(run.metrics())
    for child in sorted(run.path.glob("runs/*/metrics.jsonl")):
        findings += [f"{child.parent.name}: {f}" for f in curve_findings(Run(child.parent).metrics())[:1]]
    return findings


def _is_quick(run: Run) -> bool:
    return bool(run.config().get("config", {}).get("quick"))


def render_page(page: SitePage, out: Path) -> Path:
    run, dest = page.run, out / page.slug
    dest.mkdir(parents=True, exist_ok=True)
    md = (run.path / "report.md").read_text() if (run.path / "report.md").exists() else ""
    _copy_assets(run, md, dest)
    thumb = _thumbnail(run)
    if thumb:
        _copy_assets(run, f"![]({thumb})", dest)
    body_md = re.sub(r"\A# .*\n", "", md)  # the page supplies its own title
    findings = experiment_findings(run)
    rel = os.path.relpath(run.path, dest)
    headline = run.summary().headline
    parts = [f"<p><a href='../index.html'>&larr; all experiments</a></p><h1>{html.escape(page.experiment)}</h1>",
             f"<p class='muted'>{html.escape(_description(run))}</p>",
             f"<p><b>{html.escape(headline)}</b></p>" if headline else ""]
    if findings:
        parts.append("<div class='findings'><h2>What the curves say</h2><ul>" +
                     "".join(f"<li>{html.escape(f)}</li>" for f in findings) + "</ul></div>")
    parts.append(markdown.markdown(body_md, extensions=["tables", "fenced_code"]))
    if "## Config that ran" not in md:
        cfg = json.dumps(run.config().get("config", {}), indent=2)
        parts.append(f"<h2>Config that ran</h2><pre>{html.escape(cfg)}</pre>")
    parts.append(f"<p class='muted'>Run directory: <a href='{html.escape(rel)}/'>{html.escape(run.name)}</a></p>")
    path = dest / "index.html"
    atomic_write_text(path, _layout(page.experiment, "\n".join(parts)))
    return path


def _thumbnail(run: Run) -> str:
    """The page's key figure (its summary names it), else its first figure; '' when it drew none."""
    named = run.summary().details.get("thumbnail")
    if isinstance(named, str) and (run.path / named).is_file():
        return named
    pngs = sorted(run.plots.glob("*.png"))
    return f"plots/{pngs[0].name}" if pngs else ""


def _thumb_html(page: SitePage) -> str:
    thumb = _thumbnail(page.run)
    return (f"<a href='{page.slug}/index.html'><img class='thumb' src='{page.slug}/{html.escape(thumb)}' "
            f"alt='{html.escape(page.experiment)}'></a>" if thumb else "")


def _card(title: str, names: tuple[str, ...], by_name: dict[str, SitePage], status: dict[str, str]) -> str:
    p = next((by_name[n] for n in names if n in by_name), None)
    if p is None:
        why = next((status[n] for n in names if n in status), f"not run yet: <code>neuralab run {names[0]}</code>")
        return f"<div class='card'>{html.escape(title)}<div class='muted'>{why}</div></div>"
    return (f"<div class='card'><a href='{p.slug}/index.html'>{html.escape(title)}</a>"
            f"<div class='num'>{html.escape(p.run.summary().headline or 'done')}</div>{_thumb_html(p)}</div>")


def tour_status(paths: list[Path]) -> dict[str, str]:
    """What the newest `run all` said of each experiment it did not run ('skipped: ...', 'failed: ...')."""
    tours = sorted((r for root in paths for r in (Run(p.parent) for p in root.glob("*/config.json"))
                    if r.config().get("experiment") == "all" and r.finished), key=lambda r: r.name)
    lines = tours[-1].summary().details.get("status", {}) if tours else {}  # name -> "status: detail"
    return {name: line for name, line in (lines.items() if isinstance(lines, dict) else ())
            if isinstance(line, str) and line.startswith(("skipped:", "failed:"))}


def build_site(paths: list[Path], out: Path, status: dict[str, str] | None = None) -> Path:
    """Write out/index.html plus one page per experiment; returns the index path. `status` says why experiments
    without a run have none (`run all` passes what it skipped; otherwise the newest tour's record is read)."""
    runs = experiment_runs(paths)
    status = {**tour_status(paths), **(status or {})}
    pages = [SitePage(r, r.config()["experiment"], r.config()["experiment"]) for r in runs]
    for p in pages:
        render_page(p, out)
    by_name = {p.experiment: p for p in pages}
    cards = "".join(_card(title, names, by_name, status) for title, names in MINI_PROJECTS)
    rows = "".join(f"<tr><td><a href='{p.slug}/index.html'>{html.escape(p.experiment)}</a></td>"
                   f"<td>{html.escape(_description(p.run))}</td>"
                   f"<td>{html.escape(p.run.summary().headline or 'finished (no headline)')}"
                   f"{' <span class=muted>(quick)</span>' if _is_quick(p.run) else ''}</td>"
                   f"<td>{_thumb_html(p)}</td></tr>" for p in pages)
    rows += "".join(f"<tr><td>{html.escape(name)}</td><td></td><td class='muted'>{html.escape(why)}</td><td></td></tr>"
                    for name, why in sorted(status.items()) if name not in by_name)
    banner = (QUICK_BANNER if any(_is_quick(p.run) for p in pages) else "")
    body = ("<h1>neuralab portfolio</h1>" + banner + "<p class='muted'>Every number on these pages was measured by "
            "the runs linked from them.</p><h2>Mini-projects</h2><div class='cards'>" + cards + "</div>"
            "<h2>All experiments</h2><table><tr><th>experiment</th><th>what</th><th>result</th><th></th></tr>" +
            rows + "</table>")
    out.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(out / "index.html", _layout("neuralab portfolio", body))
