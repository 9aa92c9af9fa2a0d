"""Solver back-ends: the only module that imports highspy or PuLP.

The fleet MILP runs on HiGHS through highspy (default) or CBC through PuLP (fallback); both take the same
`FleetMilp` arrays and answer with a `MipResult` whose status is one of
`solvers.types.SolveStatus` or "error". The mapping from each solver's own status codes lives here
and only here:

| HiGHS model status                      | CBC (PuLP) status / solution status | gpuplan status           |
|-----------------------------------------|-------------------------------------|--------------------------|
| kOptimal, gap <= requested (and ~0)     | Optimal / optimal solution           | optimal                  |
| kOptimal with gap > 1e-9 (mip_gap > 0)  | -                                   | gap                      |
| time/iteration/memory limit, with point | Optimal / integer-feasible solution | gap                      |
| the same without a feasible point       | Not Solved / no solution            | not_solved               |
| kInfeasible, kUnboundedOrInfeasible     | Infeasible                          | infeasible (*)           |
| kUnbounded                              | Unbounded                           | unbounded                |
| kModelEmpty                             | -                                   | optimal (nothing to do)  |
| load/model/presolve/solve errors        | Undefined, exceptions               | error                    |

(*) every fleet model is bounded below (costs >= 0), so "unbounded or infeasible" means infeasible.
"""

from __future__ import annotations

import ctypes
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from common import limits
from solvers.fleet_milp import FleetMilp
from solvers.sparse import FloatArray, IndexArray, IntArray

if TYPE_CHECKING:
    import pulp

BackendStatus = Literal["optimal", "gap", "infeasible", "unbounded", "not_solved", "error"]
OPTIMAL_GAP = 1e-9
NO_NODE_LIMIT = 2**31 - 1
"""HiGHS's `mip_max_nodes` default (kHighsIInf): a session solved again without a node limit resets to it."""
HIGHS_THREADS = 1
"""Threads of every HiGHS solve. HiGHS's branch and bound is serial; its extra threads mostly wait for work,
and on a shared 2-core machine one thread took 20-30 % less CPU and wall per solve (bench/speed.py: a sweep
point 0.52 -> 0.39 s CPU; the 40 x 200 x 2 grid case 2.4 -> 1.9 s; the 40 x 400 Mélange input 1.6 -> 1.4 s).
One value for every HiGHS object: the option sets the size of HiGHS's one thread pool per process."""


@dataclass(frozen=True)
class MipResult:
    status: BackendStatus
    values: FloatArray | None  # column values (None when there is no feasible point)
    objective: float | None
    gap: float | None  # relative gap between incumbent and dual bound (None: unknown)
    seconds: float
    message: str = ""


@dataclass(frozen=True)
class ExtraRow:
    """A row added for a later lexicographic stage (dense over the columns it names)."""

    index: tuple[int, ...]
    value: tuple[float, ...]
    lower: float
    upper: float


class Session(Protocol):
    """One loaded model solved possibly several times with a changed objective or extra rows."""

    name: str

    def solve(
        self,
        *,
        time_limit_s: float,
        mip_rel_gap: float,
        mip_abs_gap: float | None = None,
        start: FloatArray | None = None,
        node_limit: int | None = None,
    ) -> MipResult: ...

    def set_objective(self, cost: FloatArray) -> None: ...

    def add_row(self, row: ExtraRow) -> None: ...

    def set_col_upper(self, index: IndexArray, upper: FloatArray) -> None: ...

    def forget_start(self) -> None:
        """Drop any MIP start and solver state kept from earlier solves (the next solve starts cold)."""
        ...


def highs_available() -> bool:
    try:
        import highspy  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def stdout_silenced() -> Iterator[None]:
    """Point file descriptor 1 at the null device while a C library runs, then restore it.

    stdout carries only gpuplan's document (JSON, CSV, Markdown), so a solver library's banner or log
    (HiGHS 1.16 prints one from its constructor, before any option can be set) must never reach it.
    Redirecting `sys.stdout` cannot catch C-level writes; this works on the descriptor, and flushes C
    stdio on both sides so buffered bytes land where they were written, not after the restore.
    """
    with suppress(OSError, ValueError):  # a closed or broken stdout is the caller's problem, not the solver's
        sys.stdout.flush()
    _flush_c_stdio()
    try:
        saved = os.dup(1)
    except OSError:  # no fd 1 at all: nothing to protect
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        yield
    finally:
        _flush_c_stdio()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def _flush_c_stdio() -> None:
    libc = _libc()
    if libc is not None:
        libc.fflush(None)


_LIBC: list[Any] = []


def _libc() -> Any:
    """The C library (for fflush), or None where it cannot be loaded."""
    if not _LIBC:
        try:
            _LIBC.append(ctypes.CDLL(None))
        except OSError:
            _LIBC.append(None)
    return _LIBC[0]


def new_highs(**options: bool | float | str) -> Any:
    """A silent `highspy.Highs` with `options` set: the one place HiGHS objects are created.

    Raises ImportError (name "highspy") when highspy cannot be imported.
    """
    import highspy

    with stdout_silenced():
        h = highspy.Highs()  # type: ignore[no-untyped-call]
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", HIGHS_THREADS)
        for key, value in options.items():
            h.setOptionValue(key, value)
    return h


def cbc_binary() -> str | None:
    """The CBC binary PuLP would run (None when PuLP finds none). Raises ImportError without PuLP."""
    import pulp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        cmd = pulp.PULP_CBC_CMD(msg=False)
    return str(cmd.path) if cmd.available() and cmd.path else None


def run_highs(h: Any) -> Any:
    """`h.run()` with fd 1 silenced (HiGHS may log even with output_flag off, e.g. on errors), stoppable.

    HiGHS polls its interrupt callbacks; ours stop it once common.limits says the run must stop (a
    signal, or the run's deadline). From the main thread the solve runs in a worker thread (highspy
    releases the GIL) while the main thread waits, so a signal handler runs at once instead of after the
    solve; an exception there (Ctrl-C) stops HiGHS and waits for it before propagating.
    """
    for event in ("cbSimplexInterrupt", "cbIpmInterrupt", "cbMipInterrupt"):
        hook = getattr(h, event, None)
        if hook is not None:
            hook.subscribe(_interrupt_callback)
    with stdout_silenced():
        if threading.current_thread() is not threading.main_thread():
            return h.run()
        outcome: list[Any] = []
        failure: list[BaseException] = []
        done = threading.Event()  # not Thread.join: an exception inside join marks a running thread finished

        def work() -> None:
            try:
                outcome.append(h.run())
            except BaseException as exc:  # handed to the waiting thread
                failure.append(exc)
            finally:
                done.set()

        worker = threading.Thread(target=work, name="highs", daemon=True)
        worker.start()
        try:
            while not done.wait(0.05):
                pass
        except BaseException:
            already = limits.stop_requested()
            limits.request_stop()  # the callback interrupts HiGHS at its next poll (not during presolve)
            if not done.wait(1.0):
                limits.abandon(worker)  # the CLI exits without waiting for it (planner.cli.main)
            if not already:
                limits.clear_stop()
            raise
        if failure:
            raise failure[0]
        return outcome[0]


def _interrupt_callback(event: Any) -> None:
    if limits.should_stop():
        event.interrupt()


def require_highspy() -> None:
    """Raise ImportError (name "highspy") when highspy cannot be imported: for modules that cannot work
    without it, so their callers can say what is missing."""
    try:
        import highspy  # noqa: F401
    except ImportError as exc:
        raise ImportError(str(exc) or "highspy cannot be imported", name="highspy") from exc


@dataclass(frozen=True)
class LpOutcome:
    """An LP's answer: `optimal` False means no optimum (infeasible, unbounded or failed)."""

    optimal: bool
    col_value: FloatArray
    row_dual: FloatArray


class LpSolver:
    """One reusable HiGHS instance for many small LPs (presolve off: each solve takes well under a ms).

    Rows are given row-wise (CSR); bounds may be ±inf."""

    def __init__(self) -> None:
        self.h = new_highs(presolve="off")

    def solve(
        self,
        cost: FloatArray,
        col_lower: FloatArray,
        col_upper: FloatArray,
        row_lower: FloatArray,
        row_upper: FloatArray,
        a_start: IntArray,
        a_index: IntArray,
        a_value: FloatArray,
    ) -> LpOutcome:
        import highspy

        inf = highspy.kHighsInf
        lp = highspy.HighsLp()
        lp.num_col_ = int(cost.shape[0])
        lp.num_row_ = int(row_lower.shape[0])
        lp.col_cost_ = np.asarray(cost, dtype=np.float64)
        lp.col_lower_ = _clip_inf(col_lower, inf)
        lp.col_upper_ = _clip_inf(col_upper, inf)
        lp.row_lower_ = _clip_inf(row_lower, inf)
        lp.row_upper_ = _clip_inf(row_upper, inf)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.start_ = np.asarray(a_start, dtype=np.int32)
        lp.a_matrix_.index_ = np.asarray(a_index, dtype=np.int32)
        lp.a_matrix_.value_ = np.asarray(a_value, dtype=np.float64)
        self.h.clearModel()
        self.h.passModel(lp)
        run_highs(self.h)
        if self.h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return LpOutcome(False, np.zeros(0), np.zeros(0))
        sol = self.h.getSolution()
        return LpOutcome(True, np.array(sol.col_value, dtype=np.float64), np.array(sol.row_dual, dtype=np.float64))


class BackendFailure(Exception):
    """The back-end could not load or solve the model (not an infeasibility)."""


def open_session(model: FleetMilp, solver: str) -> Session:
    """`solver` is "highs" or "cbc"; raises ImportError/RuntimeError when that back-end cannot load it."""
    if solver == "highs":
        return HighsSession(model)
    if solver == "cbc":
        return PulpSession(model)
    raise ValueError(f"unknown solver {solver!r}")


def open_backend(model: FleetMilp, solver: str) -> Session:
    """`open_session`, with every way of failing to load (import errors, rejected models) a BackendFailure,
    so the caller can fall back to the other back-end or report it."""
    try:
        return open_session(model, solver)
    except Exception as exc:
        raise BackendFailure(f"{type(exc).__name__}: {exc}") from None


# --------------------------------------------------------------------------------------------- HiGHS
TINY_COEFFICIENT = 1e-6
"""Below HiGHS's default MIP feasibility tolerance."""


class HighsSession:
    """The model passed to highspy in one call (row-wise CSR arrays), kept loaded between stages."""

    name = "highs"

    def __init__(self, model: FleetMilp) -> None:
        import highspy

        self._hs = highspy
        self.h = new_highs(random_seed=0)
        nonzero = np.abs(model.a_value[model.a_value != 0])
        if nonzero.size and float(nonzero.min()) < TINY_COEFFICIENT:
            # HiGHS 1.16's MIP presolve can discard the optimum of a model with a coefficient below its
            # feasibility tolerance (a slice's load on a replica that could serve 1e6 times its rate) and
            # report a dearer plan as optimal (tests/test_fleet_oracle.py): such models are solved unpresolved
            self.h.setOptionValue("presolve", "off")
        inf = self.h.getInfinity()
        status = self.h.passModel(
            model.num_cols,
            model.num_rows,
            int(model.a_value.shape[0]),
            2,  # MatrixFormat::kRowwise
            1,  # ObjSense::kMinimize
            0.0,
            model.col_cost,
            _clip_inf(model.col_lower, inf),
            _clip_inf(model.col_upper, inf),
            _clip_inf(model.row_lower, inf),
            _clip_inf(model.row_upper, inf),
            model.a_start,
            model.a_index,
            model.a_value,
            model.integrality,
        )
        if status == highspy.HighsStatus.kError:
            raise RuntimeError("HiGHS rejected the model (passModel returned an error)")
        self.num_cols = model.num_cols

    def set_objective(self, cost: FloatArray) -> None:
        idx = np.arange(self.num_cols, dtype=np.int32)
        self.h.changeColsCost(self.num_cols, idx, np.asarray(cost, dtype=np.float64))

    def forget_start(self) -> None:
        self.h.clearSolver()

    def add_row(self, row: ExtraRow) -> None:
        inf = self.h.getInfinity()
        self.h.addRows(
            1,
            np.array([max(row.lower, -inf)]),
            np.array([min(row.upper, inf)]),
            len(row.index),
            np.array([0], dtype=np.int32),
            np.array(row.index, dtype=np.int32),
            np.array(row.value, dtype=np.float64),
        )

    def set_col_upper(self, index: IndexArray, upper: FloatArray) -> None:
        idx = np.asarray(index, dtype=np.int32)
        lower = np.zeros(idx.shape[0])
        inf = self.h.getInfinity()
        self.h.changeColsBounds(int(idx.shape[0]), idx, lower, _clip_inf(np.asarray(upper, dtype=np.float64), inf))

    def solve(
        self,
        *,
        time_limit_s: float,
        mip_rel_gap: float,
        mip_abs_gap: float | None = None,
        start: FloatArray | None = None,
        node_limit: int | None = None,
    ) -> MipResult:
        hs = self._hs
        h = self.h
        h.setOptionValue("time_limit", float(limits.clamp(time_limit_s)))  # the run's deadline too
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
        h.setOptionValue("mip_abs_gap", float(1e-6 if mip_abs_gap is None else mip_abs_gap))
        h.setOptionValue("mip_max_nodes", int(NO_NODE_LIMIT if node_limit is None else node_limit))
        if start is not None:
            idx = np.arange(self.num_cols, dtype=np.int32)
            h.setSolution(self.num_cols, idx, np.asarray(start, dtype=np.float64))
        t0 = time.perf_counter()
        try:
            run_status = run_highs(h)
        except Exception as exc:  # highspy raises on internal failures; report them as errors
            return MipResult("error", None, None, None, time.perf_counter() - t0, f"HiGHS raised: {exc}")
        seconds = time.perf_counter() - t0
        ms = h.getModelStatus()
        info = h.getInfo()
        has_point = info.primal_solution_status == hs.SolutionStatus.kSolutionStatusFeasible
        values = np.array(h.getSolution().col_value, dtype=np.float64) if has_point else None
        objective = float(info.objective_function_value) if has_point else None
        gap = _highs_gap(info.mip_gap, objective, info.mip_dual_bound) if has_point else None
        label = h.modelStatusToString(ms)
        status = map_highs_status(ms.name, has_point=values is not None, gap=gap)
        if status == "error":
            return MipResult("error", None, None, None, seconds, f"HiGHS status {label!r} (run returned {run_status})")
        if ms.name == "kModelEmpty":
            return MipResult("optimal", np.zeros(self.num_cols), 0.0, 0.0, seconds, label)
        if status in ("optimal", "gap"):
            return MipResult(status, values, objective, gap if status == "gap" else (gap or 0.0), seconds, label)
        return MipResult(status, None, None, None, seconds, label)


HIGHS_LIMIT_STATUSES = frozenset(
    {
        "kTimeLimit",
        "kIterationLimit",
        "kSolutionLimit",
        "kInterrupt",
        "kHighsInterrupt",
        "kObjectiveBound",
        "kObjectiveTarget",
        "kMemoryLimit",
    }
)


def map_highs_status(name: str, *, has_point: bool, gap: float | None) -> BackendStatus:
    """gpuplan's status for a HiGHS model status (by enum name, e.g. "kOptimal"); see the module table."""
    if name == "kOptimal":
        if not has_point:
            return "error"
        return "optimal" if gap is None or gap <= OPTIMAL_GAP else "gap"
    if name in ("kInfeasible", "kUnboundedOrInfeasible"):
        return "infeasible"
    if name == "kUnbounded":
        return "unbounded"
    if name == "kModelEmpty":
        return "optimal"
    if name in HIGHS_LIMIT_STATUSES:
        return "gap" if has_point else "not_solved"
    return "error"  # kNotset, kLoadError, kModelError, kPresolveError, kSolveError, kPostsolveError, kUnknown


def _clip_inf(a: FloatArray, inf: float) -> FloatArray:
    return np.clip(np.asarray(a, dtype=np.float64), -inf, inf)


def _highs_gap(reported: float, objective: float | None, bound: float) -> float | None:
    """HiGHS's relative gap, made well-defined at objective 0 and when the bound is unknown."""
    if objective is None:
        return None
    if math.isfinite(bound):
        diff = max(objective - bound, 0.0)
        if diff <= 1e-9 * max(1.0, abs(objective)):
            return 0.0
        return diff / max(abs(objective), 1e-12)
    return reported if math.isfinite(reported) and reported < 1e300 else None


# --------------------------------------------------------------------------------------- PuLP / CBC
def to_pulp(model: FleetMilp, name: str = "fleet", cost: FloatArray | None = None) -> pulp.LpProblem:
    """The same arrays as a named PuLP problem (variables and constraints `<family>_<index>`)."""
    import pulp

    prob = pulp.LpProblem(name, pulp.LpMinimize)
    names = model.column_names()
    var = []
    for j, nm in enumerate(names):
        lo = float(model.col_lower[j])
        hi = float(model.col_upper[j])
        var.append(
            prob.add_variable(
                nm,
                lowBound=lo if math.isfinite(lo) else None,
                upBound=hi if math.isfinite(hi) else None,
                cat=pulp.LpInteger if model.integrality[j] else pulp.LpContinuous,
            )
        )
    c = model.col_cost if cost is None else cost
    prob += pulp.lpSum(float(c[j]) * var[j] for j in range(len(var)) if c[j] != 0), "cost"
    starts = model.a_start.tolist()
    idx = model.a_index.tolist()
    val = model.a_value.tolist()
    for i, rname in enumerate(model.row_names()):
        expr = pulp.lpSum(val[k] * var[idx[k]] for k in range(starts[i], starts[i + 1]))
        lo = float(model.row_lower[i])
        hi = float(model.row_upper[i])
        if lo == hi:
            prob += expr == lo, rname
        elif math.isfinite(lo) and math.isfinite(hi):
            prob += expr >= lo, rname + "_lo"
            prob += expr <= hi, rname + "_hi"
        elif math.isfinite(lo):
            prob += expr >= lo, rname
        else:
            prob += expr <= hi, rname
    return prob


def lp_text(model: FleetMilp) -> str:
    """The model in CPLEX LP format as PuLP writes it (golden tests, debugging)."""
    prob = to_pulp(model)
    fd, path = tempfile.mkstemp(suffix=".lp")
    os.close(fd)
    try:
        prob.writeLP(path)
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    finally:
        os.unlink(path)


class PulpSession:
    """CBC through PuLP: rebuilds the PuLP problem for each stage (the fallback path, not the fast one)."""

    name = "cbc"

    def __init__(self, model: FleetMilp) -> None:
        import pulp

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            cmd = pulp.PULP_CBC_CMD(msg=False)
        if not cmd.available():
            raise RuntimeError("CBC (PuLP's bundled PULP_CBC_CMD) is not available")
        self.model = model
        self.cost = model.col_cost.copy()
        self.extra: list[ExtraRow] = []
        self.upper = model.col_upper.copy()

    def set_objective(self, cost: FloatArray) -> None:
        self.cost = np.asarray(cost, dtype=np.float64).copy()

    def add_row(self, row: ExtraRow) -> None:
        self.extra.append(row)

    def set_col_upper(self, index: IndexArray, upper: FloatArray) -> None:
        self.upper[np.asarray(index, dtype=np.int64)] = np.asarray(upper, dtype=np.float64)

    def forget_start(self) -> None:
        """CBC starts every solve from the values given to it; nothing is kept between solves."""

    def solve(  # noqa: C901 - the CBC path in one place: start, limits, run, status table, extraction
        self,
        *,
        time_limit_s: float,
        mip_rel_gap: float,
        mip_abs_gap: float | None = None,
        start: FloatArray | None = None,
        node_limit: int | None = None,
    ) -> MipResult:
        import pulp

        time_limit_s = limits.clamp(time_limit_s)  # the run's deadline too
        model = self.model
        prob = to_pulp(model, cost=self.cost)
        variables = prob.variables()
        by_name = {v.name: v for v in variables}
        names = model.column_names()
        cols = [by_name.get(n) for n in names]
        for j, v in enumerate(cols):
            if v is not None and math.isfinite(self.upper[j]):
                v.upBound = float(self.upper[j])
        for k, row in enumerate(self.extra):
            terms = [(val, cols[j]) for j, val in zip(row.index, row.value, strict=True)]
            expr = pulp.lpSum(val * v for val, v in terms if v is not None)
            if math.isfinite(row.lower):
                prob += expr >= row.lower, f"stage_{k}_lo"
            if math.isfinite(row.upper):
                prob += expr <= row.upper, f"stage_{k}_hi"
        warm = False
        if start is not None:
            for j, v in enumerate(cols):
                if v is not None:
                    v.setInitialValue(float(round(start[j])) if model.integrality[j] else float(start[j]))
            warm = True
        options: dict[str, object] = {
            "msg": False,
            "timeLimit": max(1, math.ceil(time_limit_s)),
            "warmStart": warm,
        }
        options["gapRel"] = float(mip_rel_gap)
        if node_limit is not None:
            options["maxNodes"] = int(node_limit)
        if mip_abs_gap is not None:
            options["gapAbs"] = float(mip_abs_gap)
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                # PuLP 3 deprecates PULP_CBC_CMD for COIN_CMD + pulp[cbc]; the bundled CBC is what we have.
                warnings.simplefilter("ignore", DeprecationWarning)
                cmd = pulp.PULP_CBC_CMD(**options)
            with _cbc_contained(cmd):
                prob.solve(cmd)
        except Exception as exc:  # PuLP raises PulpSolverError on CBC crashes
            return MipResult("error", None, None, None, time.perf_counter() - t0, f"CBC failed: {exc}")
        seconds = time.perf_counter() - t0
        st = prob.status
        sol = prob.sol_status
        if st == pulp.LpStatusInfeasible or sol == pulp.LpSolutionInfeasible:
            return MipResult("infeasible", None, None, None, seconds, "CBC: infeasible")
        if st == pulp.LpStatusUnbounded or sol == pulp.LpSolutionUnbounded:
            return MipResult("unbounded", None, None, None, seconds, "CBC: unbounded")
        if sol in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
            values = np.array([0.0 if v is None or v.varValue is None else float(v.varValue) for v in cols])
            objective = float(np.dot(self.cost, values))
            if sol == pulp.LpSolutionOptimal and mip_rel_gap <= 0:
                return MipResult("optimal", values, objective, 0.0, seconds, "CBC: optimal")
            if sol == pulp.LpSolutionOptimal:  # within the requested gap; CBC does not report the bound
                return MipResult("gap", values, objective, None, seconds, "CBC: within the requested gap")
            return MipResult("gap", values, objective, None, seconds, "CBC: stopped with a feasible solution")
        if st == pulp.LpStatusNotSolved or sol == pulp.LpSolutionNoSolutionFound:
            return MipResult("not_solved", None, None, None, seconds, "CBC: no solution within the time or node limit")
        return MipResult("error", None, None, None, seconds, f"CBC status {pulp.LpStatus.get(st, st)}")


class _TrackedSubprocess:
    """The `subprocess` module as PuLP's CBC runner sees it, recording the processes it starts."""

    def __init__(self, real: Any, started: list[Any]) -> None:
        self._real = real
        self._started = started

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def Popen(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 - the name PuLP calls
        proc = self._real.Popen(*args, **kwargs)
        self._started.append(proc)
        return proc


@contextmanager
def _cbc_contained(cmd: Any) -> Iterator[None]:
    """Run a PuLP CBC solve so that it leaves nothing behind, even when interrupted (Ctrl-C, SIGTERM).

    Its model, warm start and solution files go to a private temporary folder, removed afterwards; the
    `cbc` process it starts is recorded (PuLP keeps no handle to it), and killed if the solve is left
    by an exception, so no solver keeps running after gpuplan has stopped.
    """
    from pulp.apis import coin_api

    folder = tempfile.mkdtemp(prefix="gpuplan-cbc-")
    cmd.tmpDir = folder
    started: list[Any] = []
    real = getattr(coin_api, "subprocess", None)
    if real is not None:
        coin_api.subprocess = _TrackedSubprocess(real, started)
    try:
        yield
    except BaseException:
        for proc in started:
            with suppress(OSError):
                proc.send_signal(signal.SIGKILL)
            with suppress(Exception):
                proc.wait(timeout=5)
        raise
    finally:
        if real is not None:
            coin_api.subprocess = real
        shutil.rmtree(folder, ignore_errors=True)
