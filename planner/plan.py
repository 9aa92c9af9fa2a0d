"""The planner: spec + catalog -> slices, candidates, capacities -> fleet MILP -> verified Plan.

Every step is a pure function of its inputs; only `load_inputs` reads files. The plan is verified by
`planner.verify` (independent of the solver) before it is returned.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from catalog.loader import load_catalog, resolve_model
from catalog.types import Catalog, ModelArch
from planner.candidates import (
    Candidate,
    PricedOffering,
    explain_no_fit,
    make_candidates,
    offload_dtypes,
    offload_offerings,
    precision_notes,
    select_offerings,
)
from planner.errors import InfeasibleError, InputError, did_you_mean, unknown_id
from planner.perf import Deployment, capacity_rps_many, engine_profile, predict
from planner.profiles import MeasuredPoint, load_profile_points, match_points_to_slices
from planner.result import (
    Allocation,
    Baseline,
    ModelSummary,
    Plan,
    ReplicaGroup,
    RouteShare,
    SliceRoute,
    SolverStats,
    Verification,
)
from planner.spec import ModelSpec, Spec, load_spec
from planner.verify import verify_solution
from planner.workload import Slice, WorkloadSlices, build_slices
from solvers.fleet import best_single_offering, solve_fleet
from solvers.placement_hosts import host_from_offering
from solvers.types import FleetCandidate, FleetOffering, FleetProblem, FleetSlice, FleetSolution

SHARE_EPS = 1e-9
BASELINES_KEPT = 5
"""Single-offering baselines reported (the cheapest, solved exactly; dearer ones are pruned by a bound)."""
MAX_FLEET_GPUS = 1_000_000  # larger loads are refused (see _check_fleet_size)


_YAML_PATH = re.compile(r"[A-Za-z_]\w*(\[\d+\]|\.[A-Za-z_][\w-]*)*")


@contextmanager
def spec_errors(spec_path: Path) -> Iterator[None]:
    """An input error located by a YAML path of the spec (`models[0].workload`) also names the spec file."""
    try:
        yield
    except InputError as err:
        where = err.where or ""
        head = re.match(r"[A-Za-z_]\w*", where)
        if (
            head is not None
            and head.group(0) in Spec.model_fields
            and _YAML_PATH.fullmatch(where)
            and not Path(where).exists()
            and not (spec_path.parent / where).exists()
        ):
            raise type(err)(err.message, where=f"{spec_path}: {where}") from None
        raise


@dataclass(frozen=True)
class PlanInputs:
    spec: Spec
    catalog: Catalog
    base_dir: Path
    spec_sha256: str


def load_inputs(spec_path: Path, overlays: tuple[Path, ...] = ()) -> PlanInputs:
    """Read the spec and the catalog (with the spec's and the command line's overlays)."""
    spec = load_spec(spec_path)
    base_dir = spec_path.resolve().parent
    digest = hashlib.sha256(spec_path.read_bytes()).hexdigest()
    catalog = load_catalog(overlays, inline=spec.catalog, base_dir=base_dir)
    return PlanInputs(spec, catalog, base_dir, digest)


@dataclass(frozen=True)
class ModelContext:
    """Everything about one model of the spec that the optimiser needs."""

    index: int
    spec: ModelSpec
    arch: ModelArch | None
    workload: WorkloadSlices
    candidates: tuple[Candidate, ...]
    capacity: dict[str, tuple[float, ...]]  # candidate id -> capacity per slice of this model
    measured: frozenset[str] = field(default_factory=frozenset)  # candidate ids with measured capacities
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what was left out of this model's planning, and why

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def slices(self) -> tuple[Slice, ...]:
        return self.workload.slices


def _target_matches(target: tuple[str, str, int], cand_offering: PricedOffering, tp: int) -> bool:
    kind, ident, target_tp = target
    if target_tp != tp:
        return False
    if kind == "offering":
        return cand_offering.offering.id == ident
    return cand_offering.gpu.id == ident


def _measured_candidates(
    label: str,
    arch: ModelArch | None,
    targets: Sequence[tuple[str, str, int]],
    offerings: Sequence[PricedOffering],
    inputs: PlanInputs,
) -> list[Candidate]:
    """Candidates for measured targets in exclusive mode (no estimate needed, the model may be unknown)."""

    search = inputs.spec.search
    out = []
    for po in offerings:
        for target in sorted(set(targets)):
            tp = target[2]
            if tp > po.offering.gpus_per_instance or not _target_matches(target, po, tp):
                continue
            dep = (
                Deployment(
                    arch,
                    po.gpu,
                    tp,
                    search.weights[0],
                    search.kv[0],
                    engine_profile(inputs.catalog, search.engine, po.gpu),
                    search.gpu_memory_utilization,
                )
                if arch is not None
                else None
            )
            out.append(Candidate(f"{label}@{po.id}/tp{tp}/measured", label, po, tp, dep))
    return out


def _model_context(
    inputs: PlanInputs, index: int, ms: ModelSpec, offerings: tuple[PricedOffering, ...]
) -> ModelContext:
    spec, catalog = inputs.spec, inputs.catalog
    where = f"models[{index}]"
    profiles = [(j, p) for j, p in enumerate(spec.profiles) if p.model == ms.label]
    exclusive = any(p.exclusive for _, p in profiles)
    arch: ModelArch | None
    try:
        arch = resolve_model(catalog, ms.model, where=f"{where}.model", base_dir=inputs.base_dir)
    except InputError:
        if not exclusive:
            raise
        arch = None
    workload = build_slices(ms.label, ms.workload, inputs.base_dir, where=f"{where}.workload")
    slices = workload.slices
    points: list[MeasuredPoint] = []
    for j, p in profiles:
        points.extend(load_profile_points(p, inputs.base_dir, f"profiles[{j}]", ms.slo))
    check_point_targets(catalog, points)
    measured = match_points_to_slices(points, slices)  # (slice id, target) -> req/s
    targets = sorted({t for _, t in measured})

    offloaded: dict[str, tuple[float, ...]] = {}
    notes: list[str] = []
    if exclusive:
        candidates = _measured_candidates(ms.label, arch, targets, offerings, inputs)
    else:
        assert arch is not None
        candidates = list(make_candidates(catalog, ms.label, arch, offerings, spec.search))
        if ms.offline:
            try:
                offloaded = _offload_candidates(inputs, ms, arch, offerings, slices, candidates)
            except _NoOffload as exc:
                notes.append(str(exc))
    if not candidates:
        reason = (
            f"{ms.label}: no offering matches its measured profiles"
            if exclusive or arch is None
            else explain_no_fit(catalog, ms.label, arch, offerings, spec.search)
        )
        return ModelContext(index, ms, arch, workload, (), {}, reasons=(reason,), notes=tuple(notes))

    lengths = [(s.input_len, s.output_len) for s in slices]
    capacity: dict[str, tuple[float, ...]] = {}
    measured_ids: set[str] = set()
    estimated: dict[tuple[str, int, str, str], list[float]] = {}
    for cand in candidates:
        if cand.id in offloaded:
            capacity[cand.id] = offloaded[cand.id]
            continue
        if exclusive or cand.deployment is None:
            est: list[float] = [0.0] * len(slices)
        else:
            # Offerings that share a GPU type give identical replicas: estimate each configuration once.
            dep = cand.deployment
            key = (dep.gpu.id, dep.tp, dep.weights, dep.kv)
            if key not in estimated:
                estimated[key] = capacity_rps_many(dep, lengths, ms.slo.ttft_ms, ms.slo.tpot_ms)
            est = estimated[key]
        row = list(est)
        for t in targets:
            if _target_matches(t, cand.priced, cand.tp):
                for k, s in enumerate(slices):
                    value = measured.get((s.id, t))
                    if value is not None:
                        row[k] = value
                        measured_ids.add(cand.id)
        capacity[cand.id] = tuple(row)
    kept = _prune(candidates, capacity)
    reasons = _uncovered_slices(ms, slices, kept, capacity)
    return ModelContext(
        index,
        ms,
        arch,
        workload,
        kept,
        {c.id: capacity[c.id] for c in kept},
        frozenset(measured_ids & {c.id for c in kept}),
        reasons,
        tuple(notes),
    )


class _NoOffload(Exception):
    """Offloaded candidates cannot be evaluated here (the placement solver is unavailable)."""


def _offload_candidates(
    inputs: PlanInputs,
    ms: ModelSpec,
    arch: ModelArch,
    offerings: tuple[PricedOffering, ...],
    slices: Sequence[Slice],
    candidates: list[Candidate],
) -> dict[str, tuple[float, ...]]:
    """Add offloaded single-GPU candidates for a batch (`offline`) model; return their capacity rows.

    A request of a slice is served if the whole block it rides in finishes within its end-to-end
    budget ttft_ms + output_len x tpot_ms; capacity is the block's sequences per block latency."""
    try:  # the placement LP needs highspy; without it the plan goes on without offloading
        from solvers.placement import offload_capacity
    except ImportError as exc:
        raise _NoOffload(
            f"{ms.label}: offloaded candidates not considered ({exc}; the placement LP needs highspy)"
        ) from None
    weights, kv = offload_dtypes(inputs.spec.search)
    rows: dict[str, tuple[float, ...]] = {}
    for po in offload_offerings(inputs.catalog, arch, offerings, inputs.spec.search):
        host = host_from_offering(po.offering, po.gpu)
        row = []
        for s in slices:
            budget_s = (ms.slo.ttft_ms + s.output_len * ms.slo.tpot_ms) / 1000.0
            try:
                res = offload_capacity(
                    arch, po.gpu, host, s.input_len, s.output_len, weights=weights, kv=kv, max_latency_s=budget_s
                )
                row.append(res.requests_per_s)
            except InfeasibleError:
                row.append(0.0)
        if any(v > 0 for v in row):
            cand = Candidate(f"{ms.label}@{po.id}/offload/{weights}", ms.label, po, 1, None, offload=True)
            candidates.append(cand)
            rows[cand.id] = tuple(row)
    return rows


def _prune(candidates: Sequence[Candidate], capacity: dict[str, tuple[float, ...]]) -> tuple[Candidate, ...]:
    """Drop candidates that serve nothing, or that another candidate on the same offering with the same
    tp dominates (capacity >= on every slice): same GPUs, same price, never a worse choice."""
    alive = [c for c in candidates if any(v > 0 for v in capacity[c.id])]
    kept: list[Candidate] = []
    for c in alive:
        row = capacity[c.id]
        dominated = False
        for d in alive:
            if d is c or d.priced.id != c.priced.id or d.tp != c.tp:
                continue
            other = capacity[d.id]
            if all(o >= r for o, r in zip(other, row, strict=True)) and (
                other != row or candidates.index(d) < candidates.index(c)
            ):
                dominated = True
                break
        if not dominated:
            kept.append(c)
    return tuple(kept)


def _uncovered_slices(
    ms: ModelSpec, slices: Sequence[Slice], candidates: Sequence[Candidate], capacity: dict[str, tuple[float, ...]]
) -> tuple[str, ...]:
    reasons = []
    for k, s in enumerate(slices):
        if any(capacity[c.id][k] > 0 for c in candidates):
            continue
        best = ""
        fastest = None
        for c in candidates:
            if c.deployment is None:
                continue
            pt = predict(c.deployment, s.input_len, s.output_len, concurrency=1)
            if fastest is None or (pt.ttft_ms, pt.tpot_ms) < fastest[:2]:
                fastest = (pt.ttft_ms, pt.tpot_ms, c.id)
        if fastest is not None:
            best = f"; the fastest candidate ({fastest[2]}) predicts TTFT {fastest[0]:.0f} ms, TPOT {fastest[1]:.1f} ms"
        reasons.append(
            f"{ms.label}: requests of input <= {s.input_len} and output <= {s.output_len} tokens "
            f"({s.share:.1%} of traffic) cannot meet TTFT {ms.slo.ttft_ms:g} ms / TPOT {ms.slo.tpot_ms:g} ms "
            f"on any candidate{best}; relax the SLO or allow faster GPUs"
        )
    return tuple(reasons)


def build_problem(inputs: PlanInputs, contexts: Sequence[ModelContext]) -> tuple[FleetProblem, dict[str, Candidate]]:
    spec = inputs.spec
    cands = [c for ctx in contexts for c in ctx.candidates]
    by_id = {c.id: c for c in cands}
    offerings: dict[str, PricedOffering] = {}
    for c in cands:
        offerings.setdefault(c.priced.id, c.priced)
    slices = [s for ctx in contexts for s in ctx.slices]
    col = {c.id: j for j, c in enumerate(cands)}
    matrix = [[0.0] * len(cands) for _ in slices]
    row0 = 0
    for ctx in contexts:
        for c in ctx.candidates:
            for k, v in enumerate(ctx.capacity[c.id]):
                matrix[row0 + k][col[c.id]] = v
        row0 += len(ctx.slices)
    problem = FleetProblem(
        offerings=tuple(
            FleetOffering(po.id, po.price_usd_per_hour, po.offering.gpus_per_instance, po.available, po.spot)
            for po in sorted(offerings.values(), key=lambda p: p.id)
        ),
        candidates=tuple(FleetCandidate(c.id, c.priced.id, c.model_label, c.tp) for c in cands),
        slices=tuple(FleetSlice(s.id, s.model, s.rate_rps) for s in slices),
        capacity_rps=tuple(tuple(r) for r in matrix),
        target_utilisation=spec.search.target_utilisation,
        min_replicas={m.label: m.min_replicas for m in spec.models},
        max_spot_share=spec.offerings.max_spot_share,
        budget_usd_per_hour=spec.constraints.budget_usd_per_hour,
        mode=spec.solver.mode,
        slice_factor=spec.solver.slice_factor,
    )
    return problem, by_id


def make_plan(inputs: PlanInputs, *, solver: str | None = None, time_limit_s: float | None = None) -> Plan:
    """Plan the cheapest fleet for the spec; infeasibility is a Plan with reasons, not an exception.

    Solver outcomes: optimal -> the plan; stopped at the time limit with a plan -> that plan (status
    "gap", with its gap), or the cheapest single-offering plan when that is cheaper; infeasible,
    unbounded or no plan within the time limit -> an infeasible Plan whose reason says which.
    """
    spec = inputs.spec
    solver_name = solver or spec.solver.name
    limit = time_limit_s if time_limit_s is not None else spec.solver.time_limit_s
    if solver_name not in ("highs", "cbc"):
        raise InputError(f"unknown solver {solver_name!r}; valid: highs, cbc", where="--solver")
    if not (math.isfinite(limit) and limit > 0):
        raise InputError(f"must be a positive number of seconds, e.g. 60 (got {limit:g})", where="--time-limit")
    check_profiles(spec, inputs.catalog)
    offerings = select_offerings(inputs.catalog, spec.offerings)
    if not offerings:
        raise InputError("no offering passes the filters; widen clouds/gpus/regions or include", where="offerings")
    contexts = [_model_context(inputs, i, m, offerings) for i, m in enumerate(spec.models)]
    reasons = tuple(r for ctx in contexts for r in ctx.reasons)
    problem, by_id = build_problem(inputs, contexts)
    if reasons:
        return _infeasible_plan(
            inputs,
            contexts,
            reasons,
            SolverStats(name=solver_name, status="not_run", seconds=0.0, gap=None, variables=0, constraints=0),
        )
    _check_fleet_size(problem, contexts)
    solution = solve_fleet(problem, solver=solver_name, time_limit_s=limit, mip_gap=spec.solver.mip_gap)
    notes = [_solver_note(solution, solver_name)]
    singles: list[tuple[str, FleetSolution]] | None = None
    if solution.status in ("gap", "not_solved"):
        # Stopped by the time limit: a single-offering plan is a valid plan of the whole problem too.
        singles = best_single_offering(problem, solver=solver_name, time_limit_s=limit, limit=BASELINES_KEPT)
        solution, note = _better_of(problem, solution, singles)
        notes.append(note)
    stats = SolverStats(
        name=solution.solver,
        status=solution.status,
        seconds=round(solution.seconds, 4),
        gap=solution.gap,
        variables=solution.variables,
        constraints=solution.constraints,
    )
    note_text = "; ".join(n for n in notes if n)
    if solution.status not in ("optimal", "gap"):
        return _infeasible_plan(inputs, contexts, (_status_reason(solution, limit),), stats, note_text)
    violations = verify_solution(problem, solution) + _unserved_routes(solution)
    if singles is None:
        singles = best_single_offering(problem, solver=solver_name, time_limit_s=limit, limit=BASELINES_KEPT)
    baselines = _baselines(singles, by_id)
    return _assemble(inputs, contexts, problem, by_id, solution, stats, violations, baselines, note_text)


def min_gpus_needed(problem: FleetProblem) -> list[float]:
    """A lower bound on the GPUs each slice needs: its rate over the best capacity per GPU of any candidate
    (at the target utilisation). 0 for a slice nobody serves (reported elsewhere)."""
    tp = [c.tp for c in problem.candidates]
    out = []
    for s, row in zip(problem.slices, problem.capacity_rps, strict=True):
        best = max((v / t for v, t in zip(row, tp, strict=True) if v > 0), default=0.0)
        out.append(s.rate_rps / (problem.target_utilisation * best) if best > 0 else 0.0)
    return out


def _check_fleet_size(problem: FleetProblem, contexts: Sequence[ModelContext]) -> None:
    """Refuse loads that need more than MAX_FLEET_GPUS: almost always a rate in the wrong unit, and beyond
    what the MILP's integers and the verifier handle in reasonable time."""
    per_slice = min_gpus_needed(problem)
    if sum(per_slice) <= MAX_FLEET_GPUS:
        return
    by_model: dict[str, float] = {}
    for s, g in zip(problem.slices, per_slice, strict=True):
        by_model[s.model] = by_model.get(s.model, 0.0) + g
    label, gpus = max(sorted(by_model.items()), key=lambda kv: kv[1])
    ctx = next(c for c in contexts if c.label == label)
    rate = sum(s.rate_rps for s in ctx.slices)
    shown = f"{gpus:,.0f}" if gpus < 1e12 else f"{gpus:.3g}"
    field = "rate_rps" if ctx.spec.workload.rate_rps is not None else "trace.use_trace_rate"
    raise InputError(
        f"{rate:.4g} req/s of {label} needs at least {shown} GPUs; gpuplan plans fleets of up to "
        f"{MAX_FLEET_GPUS:,} GPUs. Is the rate in requests per second?",
        where=f"models[{ctx.index}].workload.{field}",
    )


def _unserved_routes(solution: FleetSolution) -> tuple[str, ...]:
    """Traffic routed to a candidate that has no replica (a second line of defence next to the verifier)."""
    out = []
    for sid, shares in solution.routing.items():
        for cid, share in shares.items():
            if share > SHARE_EPS and solution.replicas.get(cid, 0) < 1:
                out.append(f"routing: {share:.3g} of slice {sid} goes to {cid}, which has no replica")
    return tuple(out)


def check_profiles(spec: Spec, catalog: Catalog) -> None:
    """Profile entries name a model label of the spec and catalog GPUs/offerings (did-you-mean if not)."""
    labels = {m.label for m in spec.models}
    for j, p in enumerate(spec.profiles):
        where = f"profiles[{j}]"
        if p.model not in labels:
            raise InputError(
                f"unknown model label {p.model!r}; {did_you_mean(p.model, labels)}", where=f"{where}.model"
            )
        for i, c in enumerate(p.capacities):
            _check_target(catalog, "gpu", c.gpu, f"{where}.capacities[{i}].gpu")
            _check_target(catalog, "offering", c.offering, f"{where}.capacities[{i}].offering")
        _check_target(catalog, "gpu", p.gpu, f"{where}.gpu")
        _check_target(catalog, "offering", p.offering, f"{where}.offering")


def check_point_targets(catalog: Catalog, points: Sequence[MeasuredPoint]) -> None:
    """Measured points (from CSV rows or benchmark files too) run on GPUs and offerings the catalog knows."""
    for p in points:
        _check_target(catalog, p.target.kind, p.target.id, p.source)


def _check_target(catalog: Catalog, kind: str, ident: str | None, where: str) -> None:
    if ident is None:
        return
    valid = catalog.gpus if kind == "gpu" else catalog.offerings
    if ident not in valid:
        raise unknown_id(kind, ident, valid, where=where)


def _solver_note(solution: FleetSolution, requested: str) -> str:
    """What a reader must know about how the solve went: a back-end fallback or an early stop."""
    if solution.solver != requested or "fallback" in solution.message:
        return solution.message or f"solved with {solution.solver} instead of {requested}"
    if solution.status == "gap":
        return "stopped at the time limit: the best plan found, not proven optimal"
    return ""


def _status_reason(solution: FleetSolution, limit: float) -> str:
    """The one-line reason for a solve that produced no plan."""
    detail = solution.message
    if solution.status == "infeasible":
        return detail or "the solver proved the fleet problem infeasible"
    if solution.status == "unbounded":
        return (
            f"the {solution.solver} solver reported the fleet model unbounded, which non-negative prices rule "
            f"out: a bug, please report it{f' ({detail})' if detail else ''}"
        )
    return (
        f"not solved: {solution.solver} found no plan within the time limit of {limit:g} s, nor a "
        "single-offering plan; raise --time-limit (or solver.time_limit_s)" + (f" ({detail})" if detail else "")
    )


def _better_of(
    problem: FleetProblem, solution: FleetSolution, singles: Sequence[tuple[str, FleetSolution]]
) -> tuple[FleetSolution, str]:
    """After an early stop: the cheapest single-offering plan when it beats (or replaces) the incumbent.

    Its gap is measured against the solver's lower bound (incumbent x (1 - gap)) when one is known.
    """
    if not singles:
        return solution, ""
    oid, best = singles[0]
    found = solution.status == "gap"
    if found and best.cost_usd_per_hour >= solution.cost_usd_per_hour - 1e-9:
        return solution, ""
    if verify_solution(problem, replace(best, status="gap")):
        return solution, ""
    gap: float | None = None
    if found and solution.gap is not None and best.cost_usd_per_hour > 0:
        bound = solution.cost_usd_per_hour * (1.0 - solution.gap)
        gap = max(0.0, (best.cost_usd_per_hour - bound) / best.cost_usd_per_hour)
    chosen = replace(
        best,
        status="gap",
        gap=gap,
        seconds=solution.seconds,
        variables=solution.variables,
        constraints=solution.constraints,
        solver=solution.solver,
    )
    what = (
        f"the optimiser's best plan (${solution.cost_usd_per_hour:.4g}/h) cost more than"
        if found
        else "the optimiser found no plan; used"
    )
    return chosen, f"time limit: {what} the best single-offering plan ({oid}), which is the plan given"


def _baselines(singles: Sequence[tuple[str, FleetSolution]], by_id: dict[str, Candidate]) -> tuple[Baseline, ...]:
    out = []
    gpu_of = {c.priced.id: c.priced.gpu.id for c in by_id.values()}
    for oid, sol in singles:
        out.append(
            Baseline(
                offering=oid,
                gpu=gpu_of[oid],
                instances=sol.instances.get(oid, 0),
                cost_usd_per_hour=round(sol.cost_usd_per_hour, 6),
            )
        )
    return tuple(out)


def _assumptions(
    inputs: PlanInputs, contexts: Sequence[ModelContext], used: Sequence[PricedOffering], solver_note: str = ""
) -> dict[str, str | float | int | bool]:
    s = inputs.spec.search
    as_of = sorted({po.offering.as_of for po in used})
    out: dict[str, str | float | int | bool] = {
        "engine": s.engine,
        "target_utilisation": s.target_utilisation,
        "gpu_memory_utilization": s.gpu_memory_utilization,
        "tp_degrees": ",".join(str(t) for t in s.tp),
        "weights": ",".join(s.weights),
        "kv_cache": ",".join(s.kv),
        "routing_mode": inputs.spec.solver.mode,
        "prices_as_of": " .. ".join([as_of[0], as_of[-1]]) if len(as_of) > 1 else (as_of[0] if as_of else ""),
        "spot_allowed": inputs.spec.offerings.spot,
    }
    calibration = _calibration_note(inputs, used)
    if calibration:
        out["calibration"] = calibration
    precision = "; ".join(precision_notes(select_offerings(inputs.catalog, inputs.spec.offerings), s))
    if precision:
        out["precision"] = precision
    skipped = _trace_rows_skipped(contexts)
    if skipped:
        out["trace_rows_skipped"] = skipped
    if solver_note:
        out["solver_note"] = solver_note
    notes = "; ".join(n for ctx in contexts for n in ctx.notes)
    if notes:
        out["notes"] = notes
    return out


def _calibration_note(inputs: PlanInputs, used: Sequence[PricedOffering]) -> str:
    """Which engine profile priced each GPU family of the plan: fitted to measurements, or a fallback."""
    parts = []
    for family in sorted({po.gpu.family for po in used}):
        gpu = next(po.gpu for po in used if po.gpu.family == family)
        prof = engine_profile(inputs.catalog, inputs.spec.search.engine, gpu)
        how = "fallback (" + prof.fit.split(";", 1)[-1].strip() + ")" if prof.fit.startswith("fallback") else "fitted"
        parts.append(f"{prof.engine}/{family}: {how}")
    return "; ".join(parts)


def _trace_rows_skipped(contexts: Sequence[ModelContext]) -> str:
    """Per model reading a trace with skip_bad_rows (or with rows always dropped): how many, and why."""
    parts = []
    for ctx in contexts:
        summary = ctx.workload.summary
        trace = ctx.spec.workload.trace
        if summary.source != "trace" or trace is None:
            continue
        if not summary.rows_skipped and not trace.skip_bad_rows:
            continue
        total = summary.rows_skipped_total
        read = (summary.requests_read or 0) + total
        why = ", ".join(f"{reason} x{count}" for reason, count in summary.rows_skipped)
        parts.append(f"{ctx.label}: {total} of {read} rows" + (f" ({why})" if why else ""))
    return "; ".join(parts)


def _model_summaries(
    contexts: Sequence[ModelContext], solution: FleetSolution | None, by_id: dict[str, Candidate]
) -> tuple[ModelSummary, ...]:
    out = []
    for ctx in contexts:
        replicas = gpus = 0
        cost = 0.0
        if solution is not None:
            for cid, r in solution.replicas.items():
                c = by_id[cid]
                if c.model_label != ctx.label:
                    continue
                replicas += r
                gpus += r * c.tp
                cost += r * c.tp * c.priced.price_usd_per_hour / c.priced.offering.gpus_per_instance
        out.append(
            ModelSummary(
                model=ctx.label,
                model_id=ctx.spec.model,
                rate_rps=round(sum(s.rate_rps for s in ctx.slices), 6),
                slo_ttft_ms=ctx.spec.slo.ttft_ms,
                slo_tpot_ms=ctx.spec.slo.tpot_ms,
                slices=len(ctx.slices),
                replicas=replicas,
                gpus=gpus,
                cost_usd_per_hour=round(cost, 4),
            )
        )
    return tuple(out)


def _infeasible_plan(
    inputs: PlanInputs,
    contexts: Sequence[ModelContext],
    reasons: tuple[str, ...],
    stats: SolverStats,
    solver_note: str = "",
) -> Plan:
    return Plan(
        name=inputs.spec.name,
        status="infeasible",
        total_cost_usd_per_hour=None,
        total_gpus=0,
        total_instances=0,
        allocations=(),
        routing=(),
        models=_model_summaries(contexts, None, {}),
        baselines=(),
        best_single_offering_cost_usd_per_hour=None,
        saving_vs_best_single_pct=None,
        infeasible_reasons=reasons,
        assumptions=_assumptions(inputs, contexts, (), solver_note),
        solver=stats,
        verification=Verification(passed=True, checks=("not run: no plan",)),
        catalog_version=inputs.catalog.version,
        spec_sha256=inputs.spec_sha256,
    )


def _dtypes(inputs: PlanInputs, c: Candidate) -> tuple[str, str]:
    if c.offload:
        return offload_dtypes(inputs.spec.search)
    if c.deployment is None:
        return "measured", "measured"
    return c.deployment.weights, c.deployment.kv


def _assemble(
    inputs: PlanInputs,
    contexts: Sequence[ModelContext],
    problem: FleetProblem,
    by_id: dict[str, Candidate],
    solution: FleetSolution,
    stats: SolverStats,
    violations: tuple[str, ...],
    baselines: tuple[Baseline, ...],
    solver_note: str = "",
) -> Plan:
    slice_index = {s.id: k for k, s in enumerate(problem.slices)}
    cand_index = {c.id: j for j, c in enumerate(problem.candidates)}
    slice_of = {s.id: s for ctx in contexts for s in ctx.slices}
    ctx_of = {ctx.label: ctx for ctx in contexts}
    measured = set().union(*(ctx.measured for ctx in contexts))

    # utilisation of each replica group: offered load / capacity, per replica
    load: dict[str, float] = {}
    for sid, shares in solution.routing.items():
        k = slice_index[sid]
        for cid, share in shares.items():
            kappa = problem.capacity_rps[k][cand_index[cid]]
            load[cid] = load.get(cid, 0.0) + problem.slices[k].rate_rps * share / kappa
    util = {cid: load.get(cid, 0.0) / r for cid, r in solution.replicas.items() if r > 0}

    allocations = []
    used: list[PricedOffering] = []
    for oid in sorted(solution.instances):
        n = solution.instances[oid]
        if n <= 0:
            continue
        groups = sorted(
            (by_id[cid] for cid, r in solution.replicas.items() if r > 0 and by_id[cid].priced.id == oid),
            key=lambda c: c.id,
        )
        if not groups:
            continue
        po = groups[0].priced
        used.append(po)
        reps = tuple(
            ReplicaGroup(
                candidate=c.id,
                model=c.model_label,
                tp=c.tp,
                weights=_dtypes(inputs, c)[0],
                kv=_dtypes(inputs, c)[1],
                engine="offload" if c.offload else inputs.spec.search.engine,
                replicas=solution.replicas[c.id],
                gpus=solution.replicas[c.id] * c.tp,
                utilisation=round(util.get(c.id, 0.0), 4),
                capacity_source="offload" if c.offload else ("measured" if c.id in measured else "estimate"),
            )
            for c in groups
        )
        allocations.append(
            Allocation(
                offering=po.offering.id,
                cloud=po.offering.cloud,
                region=po.offering.region,
                instance_type=po.offering.instance_type,
                gpu=po.gpu.id,
                gpus_per_instance=po.offering.gpus_per_instance,
                spot=po.spot,
                instances=n,
                price_usd_per_hour=po.price_usd_per_hour,
                cost_usd_per_hour=round(n * po.price_usd_per_hour, 6),
                replicas=reps,
                idle_gpus=n * po.offering.gpus_per_instance - sum(g.gpus for g in reps),
            )
        )

    routing = []
    for fs in problem.slices:
        s = slice_of[fs.id]
        ms = ctx_of[s.model].spec
        k = slice_index[fs.id]
        routes = []
        for cid, share in sorted(solution.routing.get(fs.id, {}).items()):
            if share <= SHARE_EPS:
                continue
            c = by_id[cid]
            kappa = problem.capacity_rps[k][cand_index[cid]]
            ttft = tpot = None
            if c.deployment is not None and cid not in measured:
                pt = predict(c.deployment, s.input_len, s.output_len, rate_rps=util.get(cid, 0.0) * kappa)
                ttft, tpot = round(pt.ttft_ms, 2), round(pt.tpot_ms, 3)
            routes.append(
                RouteShare(
                    candidate=cid,
                    offering=c.priced.id,
                    share=round(share, 6),
                    rate_rps=round(s.rate_rps * share, 6),
                    ttft_ms=ttft,
                    tpot_ms=tpot,
                )
            )
        routing.append(
            SliceRoute(
                slice=s.id,
                model=s.model,
                input_len=s.input_len,
                output_len=s.output_len,
                input_len_range=s.input_len_range,
                output_len_range=s.output_len_range,
                rate_rps=round(s.rate_rps, 6),
                slo_ttft_ms=ms.slo.ttft_ms,
                slo_tpot_ms=ms.slo.tpot_ms,
                routes=tuple(routes),
            )
        )

    total = round(sum(a.cost_usd_per_hour for a in allocations), 6)
    best_single = baselines[0].cost_usd_per_hour if baselines else None
    saving = round(100.0 * (best_single - total) / best_single, 2) if best_single else None
    checks = ("demand", "capacity", "packing", "availability", "min_replicas", "spot_share", "budget", "cost")
    return Plan(
        name=inputs.spec.name,
        status="optimal" if solution.status == "optimal" else "gap",
        total_cost_usd_per_hour=total,
        total_gpus=sum(a.instances * a.gpus_per_instance for a in allocations),
        total_instances=sum(a.instances for a in allocations),
        allocations=tuple(allocations),
        routing=tuple(routing),
        models=_model_summaries(contexts, solution, by_id),
        baselines=baselines,
        best_single_offering_cost_usd_per_hour=best_single,
        saving_vs_best_single_pct=saving,
        assumptions=_assumptions(inputs, contexts, used, solver_note),
        measured_profiles_used=tuple(sorted(measured & set(solution.replicas))),
        solver=stats,
        verification=Verification(passed=not violations, checks=checks, violations=violations),
        catalog_version=inputs.catalog.version,
        spec_sha256=inputs.spec_sha256,
    )


def plan_spec_file(
    spec_path: Path, overlays: tuple[Path, ...] = (), *, solver: str | None = None, time_limit_s: float | None = None
) -> Plan:
    """Convenience for library users: load a spec file and plan it."""
    return make_plan(load_inputs(spec_path, overlays), solver=solver, time_limit_s=time_limit_s)
