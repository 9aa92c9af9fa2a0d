"""The block LP of the placement optimiser (formulation in `solvers.placement`), built as arrays and solved
through `solvers.backend.LpSolver`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from solvers.backend import LpSolver
from solvers.placement_model import ACT_GPU, CHANNELS, CONST, GB, KV_GPU, NX, W_GPU, CaseForms
from solvers.placement_result import Vec


@dataclass(frozen=True)
class LpSolution:
    x: Vec
    objective_s: float
    duals: dict[str, float]  # constraint name -> |dual * rhs| (seconds of total time per 100% capacity)


class BlockLp:
    """Builds and solves the block LP with one reusable HiGHS instance (a few hundred microseconds each)."""

    def __init__(self) -> None:
        self.lp = LpSolver()
        self.solved = 0

    def solve(self, forms: CaseForms, max_latency_s: float | None) -> LpSolution | None:
        passes = forms.passes
        n_t = len(passes)
        eta = forms.overlap_efficiency
        n_e = sum(len(pf.maxes) for pf in passes)
        m0 = NX + n_t + n_e  # M_p: the slowest channel of pass p
        n = m0 + n_t
        n_rows = 3 + sum(1 + sum(pf.active) + sum(len(f) for _, f in pf.maxes) for pf in passes) + 3
        n_rows += 1 if max_latency_s is not None else 0
        a = np.zeros((n_rows, n))
        inf = math.inf
        lo = np.full(n_rows, -inf)
        up = np.full(n_rows, inf)
        names: dict[str, int] = {}
        r = 0
        for idx in (W_GPU, KV_GPU, ACT_GPU):  # share_<kind>: fractions of one kind sum to 1
            a[r, idx : idx + 3] = 1.0
            lo[r] = up[r] = 1.0
            r += 1
        e = NX + n_t
        for p, pf in enumerate(passes):
            # pass_<p>: eta * M_p + (1 - eta) * sum_c channel_c <= T_p
            total = r
            a[total, NX + p] = -1.0
            a[total, m0 + p] = eta
            a[total, :NX] = (1.0 - eta) * pf.base[:, :NX].sum(axis=0)
            up[total] = -(1.0 - eta) * pf.base[:, CONST].sum()
            r += 1
            # slowest_<p>_<channel>: base_c(x) + its roofline variables <= M_p
            rows = {}
            for ci, act in enumerate(pf.active):
                if act:
                    a[r, :NX] = pf.base[ci, :NX]
                    a[r, m0 + p] = -1.0
                    up[r] = -pf.base[ci, CONST]
                    rows[ci] = r
                    r += 1
            for ci, forms_ in pf.maxes:  # roof_<q>_<i>: form_i(x) <= e_q
                a[rows[ci], e] = 1.0
                a[total, e] = 1.0 - eta
                k = len(forms_)
                a[r : r + k, :NX] = forms_[:, :NX]
                a[r : r + k, e] = -1.0
                up[r : r + k] = -forms_[:, CONST]
                r += k
                e += 1
        mem = forms.memory
        slack = mem.rounding_slack_bytes
        for name, f, cap in (
            ("gpu_memory", mem.gpu, mem.gpu_capacity_bytes),
            ("cpu_memory", mem.cpu, max(mem.cpu_capacity_bytes - slack, 0.0)),
            ("disk_capacity", mem.disk, max(mem.disk_capacity_bytes - slack, 0.0)),
        ):
            a[r, :NX] = f[:NX] / GB  # rows in GB keep the LP well conditioned
            up[r] = (cap - f[CONST]) / GB
            names[name] = r
            r += 1
        overhead = sum(pf.repeats * pf.overhead_s for pf in passes)
        repeats = np.array([pf.repeats for pf in passes])
        if max_latency_s is not None:
            a[r, NX : NX + n_t] = repeats
            up[r] = max_latency_s - overhead
            names["max_latency"] = r
            r += 1

        cost = np.zeros(n)
        cost[NX : NX + n_t] = repeats
        scale = float(sum(pf.repeats * pf.base[CHANNELS.index("gpu"), CONST] for pf in passes))
        # tie-break between equally fast placements: prefer the faster tier (changes the time by less
        # than 1e-6 relative, but makes the answer unique and physically sensible)
        eps = 1e-7 * max(scale, 1e-9)
        for idx in (W_GPU, KV_GPU, ACT_GPU):
            cost[idx + 1] = eps
            cost[idx + 2] = 2.0 * eps
        nz = np.nonzero(a)
        counts = np.bincount(nz[0], minlength=n_rows)
        start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        col_upper = np.concatenate([np.ones(NX), np.full(n - NX, inf)])
        out = self.lp.solve(cost, np.zeros(n), col_upper, lo, up, start, nz[1].astype(np.int32), a[nz])
        self.solved += 1
        if not out.optimal:
            return None
        x = np.clip(out.col_value[:NX], 0.0, 1.0)
        row_dual = out.row_dual
        duals = {name: abs(float(row_dual[i]) * float(up[i])) for name, i in names.items()}
        t_pass = out.col_value[NX : NX + n_t]
        objective = float(sum(pf.repeats * t for pf, t in zip(passes, t_pass, strict=True)))
        return LpSolution(x=x, objective_s=objective + overhead, duals=duals)
