"""What a newcomer trips over on a first walk through the README (issue 11), one test each.

Most cases run the real entry point (`planner.cli.main`, in-process); the report ones render plans
shaped to hit the edge (a saving whose two roundings disagree, a solve stopped without a bound).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
from collections.abc import Iterator
from importlib.metadata import requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from planner.melange import PLACEHOLDER_SLO_MS
from planner.report import _fmt as f
from planner.report import render_plan_markdown, render_plan_text
from planner.report.plot import MATPLOTLIB_MISSING
from planner.result import Plan
from tests.support import BASE_SPEC, ROOT, gpuplan, spec_with, write_spec

GOLDEN = ROOT / "tests" / "golden"


def _golden_plan(name: str = "two_offering") -> Plan:
    env = json.loads((GOLDEN / f"{name}.plan.json").read_text(encoding="utf-8"))
    return Plan.model_validate(env["data"])


def _squeezed(text: str) -> str:
    return " ".join(text.split())


# ------------------------------------------------------------------------------------------ --debug
def test_debug_shows_the_traceback_and_keeps_the_exit_code(tmp_path: Path) -> None:
    run = gpuplan("--debug", "plan", tmp_path / "missing.yaml")
    assert run.code == 2, str(run)
    assert "Traceback (most recent call last)" in run.err and "InputError" in run.err
    assert "missing.yaml: spec not found" in run.err  # the one-line message still ends the output


# ------------------------------------------------------------------------------- file permissions
@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
def test_output_files_get_the_usual_permissions(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, BASE_SPEC)
    out = tmp_path / "plan.json"
    assert gpuplan("plan", spec, "-f", "json", "-o", out).code == 0
    assert _mode(out) == 0o644  # not mkstemp's 0600
    out.chmod(0o600)  # an existing file keeps the mode its owner gave it
    assert gpuplan("plan", spec, "-f", "json", "-o", out).code == 0
    assert _mode(out) == 0o600


@pytest.mark.usefixtures("umask_022")
def test_chart_files_get_the_usual_permissions(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")  # CI installs the plot extra, so this runs there
    spec = write_spec(tmp_path, BASE_SPEC)
    chart = tmp_path / "chart.svg"
    run = gpuplan("sweep", spec, "--rate", "2", "--plot", chart, "-f", "json")
    assert run.code == 0, str(run)
    assert _mode(chart) == 0o644


# ------------------------------------------------------------------------- advice one can follow
def test_install_advice_uses_what_exists() -> None:
    """gpuplan is installed from a clone or a git URL; no text may send a user to a package index
    for it (`pip install gpuplan`, `gpuplan==1.0`, `gpuplan[plot]`)."""
    from_an_index = re.compile(r"pip install(?:\s+-{1,2}[\w-]+)*\s+['\"]?gpuplan(?:\[|[=<>~]=?|['\"\s`]|$)", re.M)
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "planner").rglob("*.py"))]
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not from_an_index.search(text), f"{path.relative_to(ROOT)}: {from_an_index.search(text)}"
        assert "gpuplan[plot]" not in text, path
    workflow = (ROOT / "docs" / "ci-workflow.md").read_text(encoding="utf-8")
    assert 'pip install "git+${GPUPLAN_GIT}@${GPUPLAN_REF}"' in workflow


def test_plot_hint_names_the_plot_extras_bounds() -> None:
    plot_extra = [Requirement(r) for r in requires("gpuplan") or () if 'extra == "plot"' in r]
    assert [r.name for r in plot_extra] == ["matplotlib"]
    advised = re.search(r"pip install '([^']+)'", MATPLOTLIB_MISSING)
    assert advised is not None and Requirement(advised.group(1)).specifier == plot_extra[0].specifier
    assert "pip install -e '.[plot]'" in MATPLOTLIB_MISSING


# ------------------------------------------------------------------------------- catalog at 80 cols
def test_catalog_offerings_at_80_columns_never_cut_a_price(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    table = gpuplan("catalog", "offerings")
    rows = json.loads(gpuplan("catalog", "offerings", "-f", "json").out)["data"]["rows"]
    assert table.code == 0 and rows, str(table)
    assert max(len(line) for line in table.out.splitlines()) <= 80
    assert "…" not in table.out
    gpus = {row["gpu"] for row in rows}
    # one line per offering, in the JSON's order: the id's first part (region labels may hold spaces, e.g.
    # vast's "France, FR, EU"), the GPU, every number whole
    cells = re.compile(r"^(?P<id>\S.*?)\s+(?P<gpu>[a-z0-9.-]+)\s+(?P<n>\d+)\s+(?P<rest>\S.*)$")
    lines = [(m.group("id"), m.group("gpu"), m.group("rest").split())
             for m in map(cells.match, table.out.splitlines()) if m and m.group("gpu") in gpus]
    assert len(lines) == len(rows)
    for row, (head, gpu, words) in zip(rows, lines, strict=True):
        assert row["id"].startswith(head) and gpu == row["gpu"], (row["id"], head)
        assert f"{row['price_usd_per_hour']:.2f}" == words[0], (row["id"], words)


# ---------------------------------------------------------------------------------- sweep and spot
def test_sweep_fleet_column_keeps_the_spot_marker(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, spec_with({"offerings.spot": True, "offerings.gpus": ["l4"]}))
    data = json.loads(gpuplan("sweep", spec, "--rate", "2,4", "-f", "json").out)["data"]
    spot_items = [m for p in data["points"] for m in p["mix"] if m["spot"]]
    assert spot_items, "the cheapest plan for this spec rents spot instances"
    table = _squeezed(gpuplan("sweep", spec, "--rate", "2,4").out)
    assert re.search(r"\d× \S+ spot", table), table
    rows = list(csv.DictReader(io.StringIO(gpuplan("sweep", spec, "--rate", "2,4", "-f", "csv").out)))
    assert any("#spot=" in row["mix"] for row in rows), rows


# ------------------------------------------------------------------------------ one saving, one way
def test_a_saving_is_printed_with_one_rounding_everywhere() -> None:
    """Best single $100/h, plan $75.5451/h: 24.5451% saved. Rounded to 2 decimals first (24.45, the
    JSON field) and to 1 decimal then, it would read 24.4% in the headline and 24.5% in the table."""
    base = _golden_plan()
    best = base.baselines[0].model_copy(update={"cost_usd_per_hour": 100.0})
    plan = base.model_copy(
        update={
            "baselines": (best, *base.baselines[1:]),
            "best_single_offering_cost_usd_per_hour": 100.0,
            "total_cost_usd_per_hour": 75.5451,
            "saving_vs_best_single_pct": 24.45,
        }
    )
    for text in (render_plan_text(plan), render_plan_markdown(plan)):
        assert "24.5%" in text and "24.4%" not in text
        assert "24.5% below the best single offering" in _squeezed(text)
    assert f.saving(75.5451, 100.0) == "24.5%" and f.saving(100.0, 100.0) == "0.0%"
    assert f.saving(100.02, 100.0) == "0.0%"  # never "-0.0%"


# ------------------------------------------------------------------------------- Mélange imports
def test_a_melange_import_prints_no_placeholder_slo(tmp_path: Path) -> None:
    spec = tmp_path / "melange.yaml"
    assert gpuplan("import", "melange", ROOT / "examples/melange/example.json", "-o", spec).code == 0
    assert PLACEHOLDER_SLO_MS >= f.NO_SLO_MS
    for fmt in ("table", "md"):
        run = gpuplan("plan", spec, "-f", fmt)
        assert run.code == 0, str(run)
        assert "1,000,000,000" not in run.out and "1e+09" not in run.out, run.out
        assert "no latency SLO of its own" in _squeezed(run.out)


# ----------------------------------------------------------------------------------- place units
def test_place_prints_long_durations_in_readable_units() -> None:
    run = gpuplan(
        "place", "--model", "opt-30b", "--gpu", "t4", "--cpu-mem-gb", "200", "--disk-gb", "1500",
        "--input-len", "512", "--output-len", "32", "-f", "md",
    )  # fmt: skip
    assert run.code == 0, str(run)
    line = next(line for line in run.out.splitlines() if "block latency" in line)
    assert re.search(r"\d+\.\d min \(prefill \d+\.\d min, decode \d+\.\d min\)", line), line
    assert [f.duration(s) for s in (0.25, 42.0, 825.9, 9000.0, 3e5)] == [
        "0.25 s", "42.0 s", "13.8 min", "2.5 h", "3.5 days",
    ]  # fmt: skip


# --------------------------------------------------------------------------- a solve with no bound
@pytest.mark.parametrize("gap", [None, 1.0])
def test_a_stopped_solve_without_a_proven_bound_says_so_in_words(gap: float | None) -> None:
    base = _golden_plan()
    plan = base.model_copy(
        update={"status": "gap", "solver": base.solver.model_copy(update={"status": "gap", "gap": gap})}
    )
    for text in (render_plan_text(plan), render_plan_markdown(plan)):
        flat = _squeezed(text)
        assert "solver stopped early: no bound proven, so a cheaper plan may exist" in flat
        assert "100.00%" not in flat


def test_a_stopped_solve_with_a_bound_keeps_its_gap() -> None:
    base = _golden_plan()
    plan = base.model_copy(
        update={"status": "gap", "solver": base.solver.model_copy(update={"status": "gap", "gap": 0.032})}
    )
    assert "solver stopped early: within a 3.20% gap" in _squeezed(render_plan_text(plan))
