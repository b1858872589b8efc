"""The degenerate-figure check that every test's saved figures pass through (tests/conftest.py)."""

from __future__ import annotations

from neuralab.report.plots import degenerate, plot_compare, plt


def test_empty_axes_and_marker_less_short_lines_are_degenerate():
    fig, ax = plt.subplots()
    ax.set(xlabel="epoch", title="nothing")
    assert degenerate(fig) == ["nothing: no data drawn"]
    ax.plot([1], [50.0], label="one epoch")
    assert "line 'one epoch' has 1 point(s) and no marker" in degenerate(fig)[0]
    plt.close(fig)


def test_curves_with_markers_or_enough_points_and_image_grids_draw():
    assert degenerate(plot_compare({"a": [1.0], "b": [2.0]}, "accuracy")) == []  # markers for short curves
    assert degenerate(plot_compare({"a": list(range(20))}, "accuracy")) == []
    fig, axes = plt.subplots(1, 2)
    axes[0].imshow([[0, 1], [1, 0]])
    axes[1].axis("off")  # a spare grid cell is not a data axes
    assert degenerate(fig) == []
    for f in plt.get_fignums():
        plt.close(f)
