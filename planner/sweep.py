"""Re-planning a spec over a list of values (`gpuplan sweep SPEC --rate LIST | --tpot-ms LIST | --ttft-ms LIST`).

What each flag changes, for every model of the spec:
- `--rate R`: request rates are scaled proportionally so that the *total* over all models equals R
  (one model: its rate is simply R). A model whose rate comes from its trace (`use_trace_rate`) is
  scaled from that trace rate and then uses the fixed, scaled rate.
  A model with a `rate_curve` has its curve rescaled so that its busiest period (the one `plan` plans) has
  that rate.
- `--tpot-ms T` / `--ttft-ms T`: the TPOT / TTFT SLO of every model is set to T.

Each point is an independent `make_plan` on the modified spec; infeasible points are reported, not
raised. The sweep exits 1 only when no point is feasible.
"""

from __future__ import annotations

import dataclasses
import functools
import multiprocessing as mp
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from planner.check import worst_slo_ratios
from planner.errors import InputError
from planner.inputs import PlanInputs
from planner.result import Plan
from planner.simulate.slo_check import plan_checked
from planner.spec import Spec, parse_spec
from planner.workload import build_slices

Swept = Literal["rate_rps", "tpot_ms", "ttft_ms"]
FLAGS: dict[Swept, str] = {"rate_rps": "--rate", "tpot_ms": "--tpot-ms", "ttft_ms": "--ttft-ms"}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MixItem(_Frozen):
    offering: str
    gpu: str
    instances: int
    spot: bool = False  # rented at the spot price (the same offering may appear twice, once each way)


class SweepPoint(_Frozen):
    """One re-plan: the swept value and the plan's headline figures."""

    value: float
    status: Literal["optimal", "gap", "infeasible"]
    total_cost_usd_per_hour: float | None
    total_gpus: int
    total_instances: int
    mix: tuple[MixItem, ...] = Field(description="instances per offering, in plan order")
    best_single_offering_cost_usd_per_hour: float | None
    saving_vs_best_single_pct: float | None
    worst_ttft_pct_of_slo: float | None = Field(description="tightest bucket's predicted TTFT / SLO, percent")
    worst_tpot_pct_of_slo: float | None
    infeasible_reasons: tuple[str, ...] = ()


class SweepResult(_Frozen):
    name: str | None
    swept: Swept
    flag: str
    unit: str
    points: tuple[SweepPoint, ...]
    catalog_version: str
    spec_sha256: str = Field(description="of the spec file the sweep started from")
    method: str = Field(description="how each value was applied to the spec")


def model_rates(inputs: PlanInputs) -> tuple[float, ...]:
    """Each model's request rate as planned: `rate_rps`, or the trace's mean rate (`use_trace_rate`)."""
    rates = []
    for i, m in enumerate(inputs.spec.models):
        if m.workload.rate_rps is not None:
            rates.append(m.workload.rate_rps)
            continue
        slices = build_slices(m.label, m.workload, inputs.base_dir, where=f"models[{i}].workload").slices
        rates.append(sum(s.rate_rps for s in slices))
    return tuple(rates)


def apply_value(spec: Spec, swept: Swept, value: float, base_rates: Sequence[float]) -> Spec:
    """The spec with `value` applied to every model (see the module docstring), re-validated."""
    data: dict[str, Any] = spec.model_dump()
    total = sum(base_rates)
    for i, m in enumerate(data["models"]):
        if swept == "rate_rps":
            if total <= 0:
                raise InputError("the spec's total request rate is 0; cannot scale it", where="--rate")
            rate = value * base_rates[i] / total
            curve = m["workload"].get("rate_curve")
            if curve is not None:  # the curve rescaled: its busiest period (what plan plans) at this rate
                curve["peak_rps"], curve["rate_scale"] = rate, None
                continue
            m["workload"]["rate_rps"] = rate
            if m["workload"].get("trace") is not None:
                m["workload"]["trace"]["use_trace_rate"] = False
        else:
            m["slo"][swept] = value
    return parse_spec(data, f"{FLAGS[swept]} {value:g}")


def point_of(value: float, plan: Plan) -> SweepPoint:
    """The headline of one plan."""
    ttft, tpot = worst_slo_ratios(plan)
    return SweepPoint(
        value=value,
        status=plan.status,
        total_cost_usd_per_hour=plan.total_cost_usd_per_hour,
        total_gpus=plan.total_gpus,
        total_instances=plan.total_instances,
        mix=tuple(
            MixItem(offering=a.offering, gpu=a.gpu, instances=a.instances, spot=a.spot) for a in plan.allocations
        ),
        best_single_offering_cost_usd_per_hour=plan.best_single_offering_cost_usd_per_hour,
        saving_vs_best_single_pct=plan.saving_vs_best_single_pct,
        worst_ttft_pct_of_slo=None if ttft is None else round(ttft, 3),
        worst_tpot_pct_of_slo=None if tpot is None else round(tpot, 3),
        infeasible_reasons=plan.infeasible_reasons,
    )


METHODS: dict[Swept, str] = {
    "rate_rps": "every model's rate_rps scaled proportionally so that the total equals the value",
    "tpot_ms": "every model's slo.tpot_ms set to the value",
    "ttft_ms": "every model's slo.ttft_ms set to the value",
}
UNITS: dict[Swept, str] = {"rate_rps": "req/s", "tpot_ms": "ms", "ttft_ms": "ms"}


def run_sweep(
    inputs: PlanInputs,
    swept: Swept,
    values: Sequence[float],
    plan_fn: Callable[[PlanInputs], Plan] | None = None,
    on_point: Callable[[int], None] | None = None,
    *,
    jobs: int = 1,
    on_result: Callable[[int, SweepPoint], None] | None = None,
) -> SweepResult:
    """Plan the spec once per value (results in the order given). `plan_fn` defaults to the `plan`
    command's planner (`make_plan`, and for percentile targets the simulation check of
    planner.simulate.slo_check) without the comparison of serving shapes, which no point reports.

    Every point reuses the trace files the first one read (planner.workload._read_memoised). A rate sweep
    works out capacities once and reuses them at every rate (planner.capacity.memoised_capacity):
    they are req/s per replica, independent of the rate. `jobs` > 1 plans the points in that many worker
    processes (each keeps its own capacities); every point is planned exactly as in a serial run, so the
    result is the same. `on_point(done)` and `on_result(index, point)` are called in the caller's process
    as points finish, in order."""
    if plan_fn is None:  # a point reports headline figures only: no comparison of serving shapes, and of the
        # baselines only the cheapest (solvers.fleet.best_single_offering finds the same first one for any count)
        plan_fn = functools.partial(plan_checked, compare=False, baselines_kept=1)
    base_rates = model_rates(inputs) if swept == "rate_rps" else ()
    if swept == "rate_rps" and inputs.capacity_memo is None:
        inputs = dataclasses.replace(inputs, capacity_memo={})
    if inputs.trace_memo is None:  # every point reads the same trace files: once is enough
        inputs = dataclasses.replace(inputs, trace_memo={})
    job = _Job(inputs, swept, tuple(base_rates), plan_fn)
    points: list[SweepPoint] = []
    for k, point in enumerate(_points(job, tuple(values), jobs)):
        points.append(point)
        if on_point is not None:
            on_point(k + 1)
        if on_result is not None:
            on_result(k, point)
    return SweepResult(
        name=inputs.spec.name,
        swept=swept,
        flag=FLAGS[swept],
        unit=UNITS[swept],
        points=tuple(points),
        catalog_version=inputs.catalog.version,
        spec_sha256=inputs.spec_sha256,
        method=METHODS[swept],
    )


@dataclasses.dataclass(frozen=True)
class _Job:
    """What every point of one sweep shares (sent once to each worker process)."""

    inputs: PlanInputs
    swept: Swept
    base_rates: tuple[float, ...]
    plan_fn: Callable[[PlanInputs], Plan]

    def point(self, value: float) -> SweepPoint:
        spec = apply_value(self.inputs.spec, self.swept, value, self.base_rates)
        return point_of(value, self.plan_fn(dataclasses.replace(self.inputs, spec=spec)))


_WORKER: dict[str, _Job] = {}


def _start_worker(job: _Job) -> None:
    _WORKER["job"] = job


def _worker_point(value: float) -> SweepPoint:
    return _WORKER["job"].point(value)


def _points(job: _Job, values: tuple[float, ...], jobs: int) -> Iterator[SweepPoint]:
    """The points in order: planned here, or by `jobs` worker processes when there is more than one point.
    Workers are forked when this process runs no other thread (cheap: nothing to send, modules loaded),
    else started afresh ("spawn")."""
    workers = min(jobs, len(values))
    if workers <= 1:
        yield from (job.point(v) for v in values)
        return
    method = "fork" if "fork" in mp.get_all_start_methods() and threading.active_count() == 1 else "spawn"
    with ProcessPoolExecutor(workers, mp_context=mp.get_context(method), initializer=_start_worker,
                             initargs=(job,)) as pool:
        yield from pool.map(_worker_point, values)
