"""`gpuplan simulate PLAN.json --spec SPEC.yaml`: replay a plan request by request and report tail latency.

Exit codes: 0 every SLO target met in the simulation, 1 a target missed (like a `check` regression),
2 bad input (files, flags, a spec that is not the plan's own).
"""

from __future__ import annotations

from pathlib import Path

from planner.commands.check import read_plan
from planner.commands.flags import spelled_as_flags
from planner.inputs import load_inputs, spec_errors
from planner.outcome import Outcome
from planner.report.plot import check_plot_target
from planner.report.simulate_report import plot_simulation, render_simulation_markdown, render_simulation_table
from planner.simulate.run import SimulationOptions, simulate_plan


@spelled_as_flags
def execute(
    plan_json: Path,
    spec: Path,
    options: SimulationOptions,
    *,
    overlays: tuple[Path, ...] = (),
    plot: Path | None = None,
) -> Outcome:
    """Simulate the plan in `plan_json`, made from `spec`; draw `plot` if asked."""
    options.check()
    if plot is not None:
        check_plot_target(plot)
    plan = read_plan(plan_json, "plan")
    with spec_errors(spec):
        inputs = load_inputs(spec, overlays)
        result = simulate_plan(plan, inputs, options)
    if plot is not None:
        plot_simulation(result, plot)
    return Outcome(
        command="simulate",
        status="ok",
        data=result,
        renderers={
            "table": lambda: render_simulation_table(result),
            "md": lambda: render_simulation_markdown(result),
        },
        exit_code=0 if result.slo_met else 1,
    )
