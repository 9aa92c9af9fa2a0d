"""Golden LP files of the fleet model (CPLEX LP format as PuLP writes it) for Mélange's example_head.

.venv/bin/python tests/test_fleet_lp.py            # rewrite the golden files after a deliberate change
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from planner.melange import melange_problem  # noqa: E402
from solvers.fleet import fleet_lp  # noqa: E402

DATA = ROOT / "tests" / "data" / "melange"
MODES = ("fractional", "whole-slice")


def _lp(mode: str) -> str:
    data = json.loads((DATA / "example_head.json").read_text())
    return fleet_lp(melange_problem(data, mode=mode))  # type: ignore[arg-type]


def _golden(mode: str) -> Path:
    return DATA / f"example_head.{mode}.lp"


@pytest.mark.parametrize("mode", MODES)
def test_lp_matches_golden(mode: str) -> None:
    assert _lp(mode) == _golden(mode).read_text(), "run tests/test_fleet_lp.py to update after a deliberate change"


def test_whole_slice_routes_are_integer_piece_counts() -> None:
    text = _lp("whole-slice")
    generals = text.split("Generals", 1)[1]
    assert "route_2_0" in generals and "route_2_1" in generals
    assert "demand_2: route_2_0 + route_2_1 = 1" in text


if __name__ == "__main__":
    for m in MODES:
        _golden(m).write_text(_lp(m))
        print("wrote", _golden(m).relative_to(ROOT))
