"""`.ci/run`'s verdict on pytest's exit code: a run that collected no tests fails CI, like a failing one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _verdict(tmp_path: Path, pytest_exit: int) -> subprocess.CompletedProcess[str]:
    """Run the tests step of .ci/run (from `set +e` to the end) with a `python` that exits as pytest would
    (and no second Python 3.10 run)."""
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    step = script[script.index("set +e") :]
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python").write_text(f"#!/bin/sh\nexit {pytest_exit}\n", encoding="utf-8")
    (fake / "python").chmod(0o755)
    (tmp_path / "step.sh").write_text(f'set -euo pipefail\npy310=""\nvenv="{tmp_path}/venv"\n' + step, encoding="utf-8")
    return subprocess.run(
        ["bash", str(tmp_path / "step.sh")],
        capture_output=True,
        text=True,
        env={"PATH": f"{fake}:/usr/bin:/bin"},
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(("pytest_exit", "ci_exit"), [(0, 0), (1, 1), (5, 1)])
def test_ci_fails_unless_tests_ran_and_passed(tmp_path: Path, pytest_exit: int, ci_exit: int) -> None:
    run = _verdict(tmp_path, pytest_exit)
    assert run.returncode == ci_exit, run.stdout + run.stderr
    if pytest_exit == 5:
        assert "no tests" in run.stdout
