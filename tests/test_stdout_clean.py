"""stdout carries only the document: nothing a solver library prints may reach file descriptor 1.

In-process capture (capsys, redirect_stdout) cannot see bytes a C extension writes to fd 1, so these tests
run a fresh interpreter whose fd 1 is a pipe and read exactly what arrived there.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_SOLVE_BOTH = textwrap.dedent(
    """
    from solvers.backend import new_highs, run_highs
    import highspy, numpy as np
    h = new_highs()
    lp = highspy.HighsLp()
    lp.num_col_ = 1
    lp.num_row_ = 0
    lp.col_cost_ = np.array([1.0])
    lp.col_lower_ = np.array([0.0])
    lp.col_upper_ = np.array([1.0])
    h.passModel(lp)
    run_highs(h)
    """
)


def _fd1_bytes(code: str) -> tuple[bytes, bytes]:
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=120, check=True)
    return r.stdout, r.stderr


def test_highs_created_and_run_through_the_backend_writes_nothing_to_fd1() -> None:
    out, _ = _fd1_bytes(_SOLVE_BOTH)
    assert out == b""


def test_a_fleet_solve_writes_nothing_to_fd1() -> None:
    code = textwrap.dedent(
        """
        from pathlib import Path
        from planner.plan import plan_spec_file
        plan_spec_file(Path("examples/offline-offload.yaml"))  # fleet MILP and the placement LP
        """
    )
    out, _ = _fd1_bytes(code)
    assert out == b""
