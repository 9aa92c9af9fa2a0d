"""`gpuplan sweep --plot FILE.png|svg`: cost against the swept value, each change of mix annotated.

matplotlib is the optional `plot` extra; it is imported only here, only when drawing.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from typing import Any

from common import files
from planner.errors import InputError
from planner.report.sweep_report import HEADERS, TITLES, mix_labels, mix_text
from planner.sweep import SweepResult

PLOT_SUFFIXES = (".png", ".svg")


def check_plot_target(plot: Path) -> None:
    """Fail before planning if the chart cannot be written: suffix, folder, matplotlib installed."""
    if plot.suffix.lower() not in PLOT_SUFFIXES:
        raise InputError(f"the chart file must end in .png or .svg, got {plot.name!r}", where="--plot")
    folder = plot.parent if str(plot.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"folder {str(folder)!r} does not exist", where="--plot")
    if importlib.util.find_spec("matplotlib") is None:
        raise InputError(MATPLOTLIB_MISSING, where="--plot")


# Advice that works where gpuplan came from a clone or a git URL (it is not on a package index): the
# plot extra is just matplotlib, with the bounds pyproject gives it.
MATPLOTLIB_MISSING = (
    "drawing a chart needs matplotlib, which is not installed: pip install 'matplotlib>=3.9,<4' "
    "(or, in a clone of gpuplan: pip install -e '.[plot]')"
)


def _matplotlib() -> Any:
    try:
        import matplotlib  # noqa: PLC0415 - the optional `plot` extra, imported only to draw
    except ImportError:
        raise InputError(MATPLOTLIB_MISSING, where="--plot") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 - after matplotlib.use("Agg"), as matplotlib requires

    return plt


LOG_X_SPAN = 20.0  # use a log x axis when the values span this factor or more


def mix_keys(result: SweepResult) -> dict[str, str]:
    """Each distinct mix (in order of first appearance) -> a letter, A, B, ..., Z, AA, AB, ..."""
    labels = mix_labels(result)
    keys: dict[str, str] = {}
    for p in result.points:
        text = mix_text(p, labels)
        if p.status != "infeasible" and text not in keys:
            n, key = len(keys), ""
            while True:
                n, r = divmod(n, 26)
                key = chr(ord("A") + r) + key
                if n == 0:
                    break
                n -= 1
            keys[text] = key
    return keys


def plot_sweep(result: SweepResult, path: Path) -> None:
    """Draw the chart and write it atomically to `path` (.png or .svg; deterministic SVG).

    Each point is tagged with a letter for its mix; the key below the chart spells the mixes out,
    so long instance names never overlap the curve.
    """
    plt = _matplotlib()
    labels = mix_labels(result)
    keys = mix_keys(result)
    feasible = [
        p for p in result.points if p.status != "infeasible" and p.total_cost_usd_per_hour is not None
    ]
    infeasible = [p for p in result.points if p.status == "infeasible"]
    values = [p.value for p in result.points]
    log_x = min(values) > 0 and max(values) / min(values) >= LOG_X_SPAN
    key_lines = [f"{k}: {text}" for text, k in keys.items()]
    height = 4.2 + 0.18 * len(key_lines)
    with plt.rc_context({"svg.hashsalt": "gpuplan", "font.size": 9}):
        fig, ax = plt.subplots(figsize=(8, height), dpi=120)
        try:
            ax.plot(
                [p.value for p in feasible],
                [p.total_cost_usd_per_hour for p in feasible],
                marker="o",
                color="#1f6feb",
                label="plan",
                zorder=2,
            )
            best = [
                (p.value, p.best_single_offering_cost_usd_per_hour)
                for p in feasible
                if p.best_single_offering_cost_usd_per_hour is not None
            ]
            if best:
                ax.plot(
                    [b[0] for b in best],
                    [b[1] for b in best],
                    linestyle="--",
                    color="#8b949e",
                    label="best single offering",
                    zorder=1,
                )
            for p in feasible:
                ax.annotate(
                    keys[mix_text(p, labels)],
                    (p.value, p.total_cost_usd_per_hour),
                    textcoords="offset points",
                    xytext=(-4, 7),
                    fontsize=8,
                    fontweight="bold",
                    color="#0b3d91",
                    ha="right",
                )
            if infeasible:
                ax.scatter(
                    [p.value for p in infeasible],
                    [0.0] * len(infeasible),
                    marker="x",
                    color="#cf222e",
                    label="infeasible",
                    zorder=3,
                    clip_on=False,
                )
            if log_x:
                from matplotlib.ticker import FuncFormatter  # noqa: PLC0415 - the optional `plot` extra

                ax.set_xscale("log")
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
            ax.set_xlabel(HEADERS[result.swept])
            ax.set_ylabel("cost $/h")
            tops = [p.total_cost_usd_per_hour or 0.0 for p in feasible] + [b[1] or 0.0 for b in best]
            ax.set_ylim(0, 1.2 * max(tops) if tops and max(tops) > 0 else 1.0)  # room for the mix letters
            ax.set_title(f"{result.name or 'plan'}: cost vs {TITLES[result.swept]}")
            ax.grid(True, alpha=0.3)
            ax.legend(loc="best", fontsize=8)
            bottom_in = 0.6 + 0.16 * len(key_lines)
            fig.subplots_adjust(bottom=bottom_in / height, top=1 - 0.45 / height, left=0.09, right=0.98)
            if key_lines:
                fig.text(
                    0.09, 0.12 / height, "\n".join(key_lines), fontsize=8, family="monospace", va="bottom"
                )
            _save(fig, path)
        finally:
            plt.close(fig)


def _save(fig: Any, path: Path) -> None:
    """The chart, drawn in memory, then written by common.files.write_output (atomic, never over an input,
    through links, keeping modes)."""
    fmt = path.suffix.lower().lstrip(".")
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata=metadata)
    files.write_output(path, buf.getvalue(), "--plot")
