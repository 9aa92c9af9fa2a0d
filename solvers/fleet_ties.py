"""Can an instance vector carry the traffic at all? A necessary condition, for the tie-break skip.

The tie-break stages (solvers.fleet) are skipped when no other fleet in the cost band ranks as well; the
search for one ignores capacity, so on real catalogs it finds vectors that cost exactly as much with as few
GPUs but cannot serve the load. `RoutingBound` rules such a vector n out by a relaxation of the fleet MILP:

    exists z >= 0 with  Σ_c z_sc = 1                                  for every slice s with λ_s > 0
                        Σ_{s, c on o} λ_s z_sc · G_c / (u κ_sc) <= g_o n_o (1 + ε) + ε'   for every o

where c ranges over the aggregated candidates on offerings with n_o > 0 and κ_sc > 0, and G_c is the GPUs
one replica of c rents (tp, or whole instances for a replica spanning nodes). Every plan of the MILP gives
such a z (its routing shares): its capacity rows say Σ_s λ_s z_sc / κ_sc <= u r_c, and its packing rows
(shared, dedicated and whole replicas alike) that Σ_{c on o} G_c r_c <= g_o n_o; N+1, availability, spot,
budget and minimum replicas only add rows. So an n for which no z exists has no plan. The slack ε = 1e-4,
ε' = 1e-3 GPUs keeps every n the solver could accept within its tolerances. First a cheaper bound (each
slice on its route with the fewest GPUs per req/s, all offerings pooled), then the LP. Problems with
disaggregated pairs get no check (a pair's GPUs sit on two offerings).
"""

from __future__ import annotations

import numpy as np

from solvers.backend import LpSolver
from solvers.sparse import FloatArray
from solvers.types import FleetProblem

SLACK_REL = 1e-4
SLACK_GPUS = 1e-3
LP_COLUMNS = 150_000
"""Routing columns over all the LPs of one search (~0.2 s of HiGHS); past it the check answers None (the
search gives up and the stages run), so no problem size makes the skip dearer than that."""


class RoutingBound:
    """`bound(n)`: False when no routing of the traffic fits the GPUs of instance vector n (module doc),
    True when one may, None once the LPs' column budget (LP_COLUMNS) is spent."""

    def __init__(self, problem: FleetProblem, gpus_per_rps: FloatArray) -> None:
        index = {o.id: i for i, o in enumerate(problem.offerings)}
        self.offering_of = np.array([index[c.offering] for c in problem.candidates], dtype=np.int64)
        self.gpus = np.array([o.gpus_per_instance for o in problem.offerings], dtype=np.float64)
        rates = np.array([s.rate_rps for s in problem.slices], dtype=np.float64)
        busy = rates > 0
        self.rates = rates[busy]
        self.need = gpus_per_rps[busy][:, : len(problem.candidates)]  # GPUs per req/s; inf: no route
        self.lp = LpSolver()
        self.columns = 0  # routing columns of the LPs solved so far

    def __call__(self, n: FloatArray) -> bool | None:
        usable = n[self.offering_of] > 0
        need = np.where(usable[None, :], self.need, np.inf)
        best = need.min(axis=1) if need.shape[1] else np.full(len(self.rates), np.inf)
        if not np.isfinite(best).all():
            return False  # a busy slice has no route on these offerings
        capacity = self.gpus * n * (1.0 + SLACK_REL) + SLACK_GPUS
        if float(np.dot(self.rates, best)) > float(capacity.sum()):
            return False
        return self._routable(need, capacity)

    def _routable(self, need: FloatArray, capacity: FloatArray) -> bool | None:
        slices, cands = np.nonzero(np.isfinite(need))
        cols = len(slices)
        self.columns += cols
        if self.columns > LP_COLUMNS:
            return None
        load = self.rates[slices] * need[slices, cands]  # GPUs on c's offering if all of s goes to c
        # rows: one demand row per slice (= 1), then one GPU row per offering in use (<= capacity)
        owner = self.offering_of[cands]
        used = np.unique(owner)
        row_of = {int(o): len(self.rates) + k for k, o in enumerate(used)}
        rows = np.concatenate([slices, np.array([row_of[int(o)] for o in owner], dtype=np.int64)])
        values = np.concatenate([np.ones(cols), load])
        col_ids = np.concatenate([np.arange(cols), np.arange(cols)])
        order = np.argsort(rows, kind="stable")
        n_rows = len(self.rates) + len(used)
        start = np.searchsorted(rows[order], np.arange(n_rows + 1)).astype(np.int32)
        lower = np.concatenate([np.ones(len(self.rates)), np.full(len(used), -np.inf)])
        upper = np.concatenate([np.ones(len(self.rates)), capacity[used]])
        out = self.lp.solve(
            np.zeros(cols), np.zeros(cols), np.full(cols, np.inf), lower, upper, start,
            col_ids[order].astype(np.int32), values[order],
        )
        return out.optimal
