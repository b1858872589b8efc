import json
import os
import shutil
from pathlib import Path

import pytest

from neuralab.records import EpochRow, RunSummary
from neuralab.report.findings import curve_findings
from neuralab.report.site import build_site
from neuralab.runs import Run


def fabricate(root: Path, experiment: str, train_acc: list[float], val_acc: list[float], test_acc: float) -> Run:
    import matplotlib.pyplot as plt

    run = Run.create(root, experiment, {"experiment": experiment, "config": {"quick": True, "seed": 0}})
    for e, (t, v) in enumerate(zip(train_acc, val_acc), start=1):
        run.log(e, "train", 1 - t, {"accuracy": t})
        run.log(e, "val", 1 - v, {"accuracy": v})
    fig, ax = plt.subplots()
    ax.plot(val_acc, marker="o")
    run.save_figure(fig, "curves")
    run.write_summary(RunSummary(test={"accuracy": test_acc}))
    run.write_report(f"# {experiment}\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![curves](plots/curves.png)\n")
    return run


def test_findings_follow_the_numbers():
    def rows(train, val):
        return [r for e, (t, v) in enumerate(zip(train, val), 1)
                for r in (EpochRow(e, "train", 0.0, {"accuracy": t}), EpochRow(e, "val", 0.0, {"accuracy": v}))]

    improving = curve_findings(rows([0.5, 0.7, 0.9], [0.5, 0.7, 0.89]))
    assert "peaked at 89.0% in epoch 3 of 3" in improving[0] and "still improving" in improving[1]
    assert "no sign of overfitting" in improving[2]
    overfit = curve_findings(rows([0.6, 0.8, 0.95, 0.99, 1.0], [0.6, 0.7, 0.72, 0.71, 0.70]))
    assert "epoch 3 of 5" in overfit[0] and "did not improve over the last 2 epochs" in overfit[1]
    assert "30.0 points above validation: the model overfits" in overfit[2]
    assert RunSummary(test={"accuracy": 0.9871}).headline == "98.7% test accuracy"
    assert RunSummary(test={"rmse": 0.4912}).headline == "test RMSE 0.491"
    assert RunSummary.from_json({"headline": "mAP 0.9", "test": {"map50": 0.9}}).headline == "mAP 0.9"
    one = curve_findings(rows([0.5], [0.5]))
    assert "One epoch ran" in one[1] and len(one) == 2  # no overfitting verdict from a single point


def test_site_from_fabricated_runs(tmp_path):
    fabricate(tmp_path / "runs", "mnist", [0.9, 0.99], [0.9, 0.98], 0.981)
    fabricate(tmp_path / "runs", "activations", [0.5, 0.6], [0.5, 0.55], 0.55)
    index = build_site([tmp_path / "runs"], tmp_path / "site")
    front = index.read_text()
    assert "98.1% test accuracy" in front and "mnist/index.html" in front
    assert "not run yet" in front and "neuralab run cifar10" in front  # missing mini-projects are named
    page = (tmp_path / "site" / "mnist" / "index.html").read_text()
    assert "<table>" in page and 'src="plots/curves.png"' in page and "peaked at 98.0%" in page
    assert (tmp_path / "site" / "mnist" / "plots" / "curves.png").is_file()


def test_site_numbers_change_with_the_runs(tmp_path):
    fabricate(tmp_path / "a", "mnist", [0.9], [0.9], 0.90)
    fabricate(tmp_path / "b", "mnist", [0.9], [0.9], 0.95)
    assert "90.0% test accuracy" in build_site([tmp_path / "a"], tmp_path / "sa").read_text()
    assert "95.0% test accuracy" in build_site([tmp_path / "b"], tmp_path / "sb").read_text()


def test_newest_run_per_experiment_wins(tmp_path):
    fabricate(tmp_path / "runs", "mnist", [0.9], [0.9], 0.90)
    newer = fabricate(tmp_path / "runs", "mnist", [0.9], [0.9], 0.97)
    os.utime(newer.path)
    assert "97.0% test accuracy" in build_site([tmp_path / "runs"], tmp_path / "s").read_text()


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path):
    if chromium() is None or not _has_playwright():
        if os.environ.get("CI"):
            pytest.fail("CI must provide Debian's chromium and the playwright package (see .ci/run)")
        pytest.skip("needs Debian's chromium (apt-get install chromium) and the playwright package")
    from playwright.sync_api import sync_playwright

    fabricate(tmp_path / "runs", "mnist", [0.9, 0.99], [0.9, 0.98], 0.981)
    index = build_site([tmp_path / "runs"], tmp_path / "site")
    artifacts = Path(os.environ.get("NEURALAB_TEST_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        for url, shot in ((index.as_uri(), "report-front.png"),
                          ((index.parent / "mnist" / "index.html").as_uri(), "report-mnist.png")):
            page.goto(url)
            broken = page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length")
            assert broken == 0, f"{broken} broken image(s) on {url}"
            page.screenshot(path=str(artifacts / shot), full_page=True)
        page.goto(index.as_uri())
        assert page.title() == "neuralab portfolio"
        assert errors == []
        browser.close()
    assert (artifacts / "report-front.png").stat().st_size > 1000


def _has_playwright() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return True


def test_front_page_cells_are_filled_with_headlines_thumbnails_or_why_not(tmp_path):
    """A portfolio is looked at before it is read: each row has its number and key plot, quick pages are marked
    as such under a banner, and an experiment the tour skipped says why instead of leaving its cell empty."""
    fabricate(tmp_path / "runs", "mnist", [0.9, 0.99], [0.9, 0.98], 0.981)
    index = build_site([tmp_path / "runs"], tmp_path / "site",
                       status={"cifar10": "skipped: cifar10 not found (expected DATA/cifar-10-batches-py)"})
    front = index.read_text()
    assert "Quick tour — short runs" in front and "(quick)" in front
    assert "<img class='thumb' src='mnist/plots/curves.png'" in front and (tmp_path / "site/mnist/plots/curves.png").is_file()
    assert "skipped: cifar10 not found" in front  # in the mini-project card and in the table
    assert front.count("skipped: cifar10 not found") == 2


def test_a_full_run_has_no_quick_banner(tmp_path):
    run = fabricate(tmp_path / "runs", "mnist", [0.9], [0.9], 0.9)
    run.write_config({"experiment": "mnist", "config": {"quick": False}})
    assert "Quick tour" not in build_site([tmp_path / "runs"], tmp_path / "site").read_text()
