"""Real plans as goldens: every example (and the infeasible specs in tests/data/specs) planned by the
real planner must give exactly its files in tests/golden/examples/ (elapsed time masked). After an
intended change run `python tests/update_golden.py` and review the diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.update_golden import EXAMPLE_SPECS, GOLDEN, example_golden_files


@pytest.mark.parametrize("spec", EXAMPLE_SPECS, ids=lambda p: p.stem)
def test_real_plan_matches_its_golden(spec: Path) -> None:
    for name, text in example_golden_files(spec).items():
        path = GOLDEN / name
        assert path.exists(), f"missing {path}; run `python tests/update_golden.py`"
        assert path.read_text(encoding="utf-8") == text, (
            f"{name} changed; if intended, run `python tests/update_golden.py` and review the diff"
        )


def test_every_example_has_a_golden() -> None:
    kept = {p.name.split(".")[0] for p in (GOLDEN / "examples").iterdir()}
    assert kept == {p.stem for p in EXAMPLE_SPECS}
