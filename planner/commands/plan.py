"""`gpuplan plan` and `gpuplan validate`."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from planner.candidates import make_candidates, select_offerings
from planner.errors import InputError
from planner.outcome import Outcome
from planner.plan import check_point_targets, check_profiles, load_inputs, make_plan, spec_errors
from planner.report import render_plan_markdown, render_plan_table
from planner.workload import build_slices

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
    from catalog.loader import resolve_model
    from planner.profiles import load_profile_points

    inputs = load_inputs(spec, overlays)
    check_profiles(inputs.spec, inputs.catalog)
    slo = {m.label: m.slo for m in inputs.spec.models}
    for j, p in enumerate(inputs.spec.profiles):
        check_point_targets(inputs.catalog, load_profile_points(p, inputs.base_dir, f"profiles[{j}]", slo[p.model]))
    offerings = select_offerings(inputs.catalog, inputs.spec.offerings)
    if not offerings:
        raise InputError("no offering passes the filters; widen clouds/gpus/regions or include", where="offerings")
    rows = []
    for i, m in enumerate(inputs.spec.models):
        exclusive = any(p.exclusive for p in inputs.spec.profiles if p.model == m.label)
        slices = build_slices(m.label, m.workload, inputs.base_dir, where=f"models[{i}].workload").slices
        if exclusive:
            n_cand = "measured"
        else:
            arch = resolve_model(inputs.catalog, m.model, where=f"models[{i}].model", base_dir=inputs.base_dir)
            n_cand = str(len(make_candidates(inputs.catalog, m.label, arch, offerings, inputs.spec.search)))
        rows.append({"model": m.label, "slices": len(slices), "candidates": n_cand})
    data = {"spec": str(spec), "valid": True, "offerings": len(offerings), "models": rows}

    def table() -> Table:
        t = Table(title=f"{spec}: valid ({len(offerings)} offerings pass the filters)")
        for col in ("model", "slices", "candidates"):
            t.add_column(col)
        for r in rows:
            t.add_row(str(r["model"]), str(r["slices"]), str(r["candidates"]))
        return t

    return Outcome(command="validate", status="ok", data=data, renderers={"table": table})
