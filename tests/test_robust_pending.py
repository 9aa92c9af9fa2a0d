"""Robustness failures in files owned by other engineers (planner/melange.py, catalog/, solvers/,
planner/verify.py, planner/commands/place.py), kept apart so the lead can forward them.

Each test states the command, what happens today and what is expected. They fail until the owners fix
them; the rest of the robustness suite (tests/test_robust_*.py) does not depend on them.
"""

from __future__ import annotations

import json
import math
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from planner.errors import InputError
from tests.robust_support import BASE_SPEC, assert_user_error, gpuplan, gpuplan_subprocess, spec_with, write_spec

ROOT = Path(__file__).resolve().parent.parent
MELANGE = ROOT / "tests" / "data" / "melange" / "example_head.json"
HF_8B = ROOT / "tests" / "data" / "catalog" / "hf" / "llama-3.1-8b" / "config.json"


# ------------------------------------------------------------------------------ planner/melange.py
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_melange_slice_factor_not_finite(tmp_path: Path, value: float) -> None:
    """`gpuplan import melange in.json` with "slice_factor": NaN (or Infinity): today an internal error
    (ValueError/OverflowError from int(sf) in parse_melange), exit 3. Expected: exit 2,
    "slice_factor: must be an integer >= 1, got nan"."""
    data = json.loads(MELANGE.read_text())
    data["slice_factor"] = value
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data))  # json writes NaN / Infinity, which json.loads reads back
    assert_user_error(gpuplan("import", "melange", path), "slice_factor", "integer >= 1")


def test_melange_key_with_a_line_break_stays_on_one_line() -> None:
    """parse_melange({"\\x85": None}): the unknown key is printed raw, so the message spans two lines.
    Expected: the key quoted (repr), one line, as planner.spec does for spec keys."""
    from planner.melange import parse_melange

    with pytest.raises(InputError) as info:
        parse_melange({"\x85": None, "a\nb": 1}, "in.json")
    assert len(info.value.render().splitlines()) == 1, info.value.render()


def test_melange_unknown_memory_variant_is_not_mapped_to_another_gpu(tmp_path: Path) -> None:
    """`gpuplan import melange` with a GPU named "A100-90GB": today it is imported as a100-80gb (a name
    with any "-suffix" maps to its prefix, meant for "A10G-spot"), so a typo in the memory size silently
    plans the 80 GB part. Expected: exit 2 with a did-you-mean ('a100-80gb', 'a100-40gb'), at least when the
    suffix looks like a memory size (digits + GB)."""
    data = json.loads(MELANGE.read_text())
    data["gpu_info"]["A100-90GB"] = data["gpu_info"].pop("A100-80GB")
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data))
    assert_user_error(gpuplan("import", "melange", path), "A100-90GB", "did you mean")


# ----------------------------------------------------------------------------------- catalog/hf.py
def test_hf_config_with_nan(tmp_path: Path) -> None:
    """`gpuplan plan` with a model given as a config.json holding "vocab_size": NaN: today an internal
    error (ValueError: cannot convert float NaN to integer), exit 3. Expected: exit 2,
    "config.json: field 'vocab_size' must be an integer, got nan"."""
    cfg = json.loads(HF_8B.read_text())
    cfg["vocab_size"] = math.nan
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    r = gpuplan("plan", write_spec(tmp_path, spec_with({"models[0].model": "config.json"})))
    assert_user_error(r, "config.json", "vocab_size")


# ------------------------------------------------------------------------------ catalog overlays
def test_overlay_gpu_memory_infinite(tmp_path: Path) -> None:
    """`gpuplan plan spec.yaml --catalog o.yaml` where o.yaml sets a GPU's memory_gb: .inf: today an
    internal error (ValueError: cannot convert float NaN to integer, in the estimator), exit 3.
    Expected: exit 2, "o.yaml: gpus[0]: memory_gb: must be a finite number (got inf)"."""
    overlay = tmp_path / "o.yaml"
    overlay.write_text("schema_version: 1\ngpus:\n  - {id: l4, memory_gb: .inf}\n")
    r = gpuplan("plan", write_spec(tmp_path, BASE_SPEC), "--catalog", overlay)
    assert_user_error(r, "o.yaml", "memory_gb", "inf")


# ------------------------------------------------------------------- solvers/fleet.py, planner/verify.py
def _tiny_load_problem() -> Any:
    from solvers.types import FleetCandidate, FleetOffering, FleetProblem, FleetSlice

    return FleetProblem(
        offerings=(FleetOffering("o", 1.0, 1),),
        candidates=(FleetCandidate("c", "o", "m", 1),),
        slices=(FleetSlice("s", "m", 0.01),),
        capacity_rps=((11332.0,),),  # 0.01 / 11332 = 8.8e-7 of a replica: below HiGHS's tolerance
        target_utilisation=1.0,
        min_replicas={},
    )


def test_solver_never_routes_to_a_candidate_without_replicas() -> None:
    """solve_fleet on a slice whose load is 8.8e-7 of a replica: today status "optimal", cost 0, no replica
    and, since ad462de drops sub-tolerance shares, routing {} (the slice is not served at all; the verifier
    flags the demand). Before that commit the whole slice was routed to 'c' with no replica and passed
    verification. Expected: one instance and one replica (e.g. a linking row x_sc <= r_c, or trimming with
    ceil(load) >= 1 whenever load > 0). planner.plan caps capacities (MIN_LOAD_FRACTION) so `gpuplan plan`
    is safe; the library call is not."""
    from solvers.fleet import solve_fleet

    sol = solve_fleet(_tiny_load_problem())
    assert sol.routing and sol.replicas.get("c", 0) >= 1 and sol.instances.get("o", 0) >= 1, sol


def test_verifier_rejects_traffic_on_a_candidate_without_replicas() -> None:
    """verify_solution of that plan: today no violation (the capacity check's tolerance, 1e-6 relative to
    max(1, ...), swallows a load of 8.8e-7). Expected: a violation naming the slice and the candidate."""
    from planner.verify import verify_solution
    from solvers.types import FleetSolution

    sol = FleetSolution("optimal", 0.0, {}, {}, {"s": {"c": 1.0}}, "highs", 0.0, 0.0, 3, 3)
    assert verify_solution(_tiny_load_problem(), sol), "a plan serving traffic with no GPU passed verification"


@contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    """A hang guard, not a benchmark: the expected run time is well under a second."""

    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError(f"did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_verifier_packing_check_scales_to_large_fleets() -> None:
    """planner.verify._fits is first-fit over every replica and instance (quadratic): `gpuplan plan` with
    rate_rps 1e5 (57k GPUs) spends 4 s in it, 2e5 (114k GPUs) 13 s, 1e6 (~530k GPUs) does not finish in
    2 minutes. Expected: packing checked per replica size (counts), so 500k replicas take well under a second."""
    from planner.verify import verify_solution
    from solvers.types import FleetCandidate, FleetOffering, FleetProblem, FleetSlice, FleetSolution

    n = 500_000
    problem = FleetProblem(
        offerings=(FleetOffering("o", 8.0, 8),),
        candidates=(FleetCandidate("c", "o", "m", 1),),
        slices=(FleetSlice("s", "m", n * 1.0),),
        capacity_rps=((1.0,),),
        target_utilisation=1.0,
        min_replicas={},
    )
    sol = FleetSolution("optimal", n / 8 * 8.0, {"o": n // 8}, {"c": n}, {"s": {"c": 1.0}}, "highs", 0.0, 0.0, 3, 3)
    with _alarm(10):
        assert verify_solution(problem, sol) == ()


# ---------------------------------------------------------------- solvers/placement.py, gpuplan place
def test_place_without_highspy(tmp_path: Path) -> None:
    """`gpuplan place --model opt-30b --gpu t4 ...` in an environment where `import highspy` fails: today
    "internal error: ImportError" (solvers/placement.py imports highspy at module level), exit 3.
    Expected: exit 2 with a clear message (the placement LP needs highspy: pip install highspy), or a CBC
    fallback as the fleet optimiser has. (`gpuplan plan` already works without highspy.)"""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "highspy.py").write_text("raise ImportError('No module named highspy')\n")
    r = gpuplan_subprocess(
        "place", "--model", "opt-30b", "--gpu", "t4", "--input-len", "512", "--output-len", "32",
        "--cpu-mem-gb", "200", "--disk-gb", "1000",
        env={"PYTHONPATH": str(shadow)},
    )  # fmt: skip
    assert r.code in (0, 2), str(r)
    assert "internal error" not in r.err and "Traceback" not in r.err, str(r)
    if r.code == 2:
        assert "highspy" in r.err
