"""`gpuplan validate SPEC`: check a spec without planning it (planner.validate)."""

from __future__ import annotations

from pathlib import Path

from planner.inputs import load_inputs, spec_errors
from planner.outcome import Outcome
from planner.report.validate_report import render_validation_table
from planner.validate import validate_inputs


def execute(spec: Path, *, overlays: tuple[Path, ...] = ()) -> Outcome:
    """Everything `plan` checks before solving: fields, catalog ids, workload and profile files, candidates."""
    with spec_errors(spec):
        result = validate_inputs(load_inputs(spec, overlays), str(spec))
    return Outcome(
        command="validate", status="ok", data=result, renderers={"table": lambda: render_validation_table(result)}
    )
