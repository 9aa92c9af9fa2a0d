"""`gpuplan plan` and `gpuplan validate`."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from planner.candidates import make_candidates
from planner.inputs import check_profiles, load_inputs, load_model, offerings_for, spec_errors
from planner.outcome import Outcome
from planner.plan import make_plan
from planner.report import render_plan_markdown, render_plan_table

UNSOLVED = ("not_solved", "unbounded")


def execute(
    spec: Path, *, solver: str | None = None, time_limit_s: float | None = None, overlays: tuple[Path, ...] = ()
) -> Outcome:
    with spec_errors(spec):
        plan = make_plan(load_inputs(spec, overlays), solver=solver, time_limit_s=time_limit_s)
    feasible = plan.status != "infeasible"
    errors = plan.infeasible_reasons if not feasible else plan.verification.violations
    unsolved = plan.solver.status in UNSOLVED  # no plan, but not proven infeasible either
    return Outcome(
        command="plan",
        status="ok"
        if feasible and plan.verification.passed
        else ("infeasible" if not (feasible or unsolved) else "error"),
        data=plan,
        renderers={"table": lambda: render_plan_table(plan), "md": lambda: render_plan_markdown(plan)},
        exit_code=0 if feasible and plan.verification.passed else 1,
        errors=tuple(errors),
    )


def validate(spec: Path, *, overlays: tuple[Path, ...] = ()) -> Outcome:
    """Everything `plan` checks before solving: fields, catalog ids, workload and profile files, candidates."""
    with spec_errors(spec):
        return _validate(spec, overlays)


def _validate(spec: Path, overlays: tuple[Path, ...]) -> Outcome:
    inputs = load_inputs(spec, overlays)
    check_profiles(inputs.spec, inputs.catalog)
    offerings = offerings_for(inputs)
    rows = []
    for i in range(len(inputs.spec.models)):
        m = load_model(inputs, i, offerings)
        if m.exclusive or m.arch is None:
            n_cand = "measured"
        else:
            n_cand = str(len(make_candidates(inputs.catalog, m.label, m.arch, offerings, inputs.spec.search)))
        rows.append({"model": m.label, "slices": len(m.slices), "candidates": n_cand})
    data = {"spec": str(spec), "valid": True, "offerings": len(offerings), "models": rows}

    def table() -> Table:
        t = Table(title=f"{spec}: valid ({len(offerings)} offerings pass the filters)")
        for col in ("model", "slices", "candidates"):
            t.add_column(col)
        for r in rows:
            t.add_row(str(r["model"]), str(r["slices"]), str(r["candidates"]))
        return t

    return Outcome(command="validate", status="ok", data=data, renderers={"table": table})
