"""`Page`: what an experiment shows, made by its `render(result)` without touching the disk, then written into the
run folder by `write_page` (report.md, plots/*.png, summary.json).

Keeping rendering pure is what lets tests feed hand-built results — ties, clear wins, single epochs — and check
every sentence a page can say, and every figure it draws.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from neuralab.records import RunSummary
from neuralab.runs import Run


@dataclass
class Page:
    title: str
    headline: str  # one line for `runs list` and the portfolio's front page
    sections: list[str] = field(default_factory=list)  # markdown blocks, in order
    figures: dict[str, Any] = field(default_factory=dict)  # name -> matplotlib Figure, saved as plots/<name>.png
    findings: list[str] = field(default_factory=list)  # the conclusions, in words (from the numbers)
    test: dict[str, Any] = field(default_factory=dict)  # the experiment's headline metrics
    details: dict[str, Any] = field(default_factory=dict)  # other numbers worth keeping in summary.json
    thumbnail: str = ""  # the figure that stands for the page on the portfolio's front page (default: the first)

    def add(self, *blocks: str) -> "Page":
        self.sections += [b for b in blocks if b]
        return self

    def figure(self, name: str, fig: Any, caption: str) -> str:
        """Register a figure and return the markdown that shows it."""
        self.figures[name] = fig
        return f"![{caption}](plots/{name}.png)"

    def markdown(self) -> str:
        parts = [f"# {self.title}", *self.sections]
        if self.findings:
            parts += ["## What the numbers show", "\n".join(f"- {f}" for f in self.findings)]
        return "\n\n".join(parts) + "\n"

    def summary(self) -> RunSummary:
        key = self.thumbnail or next(iter(self.figures), "")
        details = {**self.details, "thumbnail": f"plots/{key}.png"} if key else self.details
        return RunSummary(headline=self.headline, test=self.test, findings=tuple(self.findings), details=details)


def quick_banner(experiment: str) -> str:
    return (f"> **Quick tour — short runs.** These numbers come from a shortened run (fewer epochs, seeds or "
            f"variants) and show the lesson, not the best result. The full run: `neuralab run {experiment}`.")


def config_block(config: dict[str, Any]) -> str:
    return "## Config that ran\n\n```json\n" + json.dumps(config, indent=2) + "\n```"


def write_page(run: Run, page: Page, config: dict[str, Any] | None = None, quick_of: str = "") -> None:
    """Figures, report.md (with the quick banner and the effective config when given) and summary.json."""
    for name, fig in page.figures.items():
        run.save_figure(fig, name)
    body = page.markdown()
    if quick_of:
        title, _, rest = body.partition("\n\n")
        body = f"{title}\n\n{quick_banner(quick_of)}\n\n{rest}"
    if config is not None:
        body = body.rstrip("\n") + "\n\n" + config_block(config) + "\n"
    run.write_report(body)
    run.write_summary(page.summary())
