"""Inputs and outputs of the fleet optimiser: plain, frozen, solver-independent.

The planner builds a `FleetProblem` from the spec, catalog and estimator; `solvers.fleet.solve_fleet`
returns a `FleetSolution`; `planner.verify` re-checks it without trusting the solver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SolveStatus = Literal["optimal", "gap", "infeasible", "unbounded", "not_solved"]

SHARE_EPS = 1e-9
"""A routing share at or below this carries no traffic: the solver drops it, reports leave it out, and
above it a share on a candidate without a replica is a violation whatever the verifier's tolerance."""


@dataclass(frozen=True)
class FleetOffering:
    """An instance type one may rent at one price (on-demand and spot are two distinct FleetOfferings).

    `available` caps the instances rented of every offering in the same `pool` together: on-demand and
    spot of one instance type share a pool (the planner names it after the catalog offering), so
    `available: 1` means one instance in all, not one of each. `pool` None = a pool of its own.
    Offerings of one pool must state the same `available`.
    """

    id: str
    price_usd_per_hour: float
    gpus_per_instance: int
    available: int | None = None  # max instances of the pool; None = unlimited
    spot: bool = False
    pool: str | None = None

    @property
    def pool_id(self) -> str:
        return self.pool if self.pool is not None else self.id


CandidateRole = Literal["aggregated", "prefill", "decode"]


@dataclass(frozen=True)
class FleetCandidate:
    """One replica configuration: uses `tp` GPUs of one instance of `offering`, serves `model`.

    `nodes` > 1: one replica takes `nodes` whole instances of `offering` (a replica spanning instances;
    `tp` is then the GPUs it uses on each, at most the instance's). `role` prefill/decode: a pool of
    disaggregated pairs (`FleetPair`), which takes traffic only through its pairs."""

    id: str
    offering: str  # FleetOffering.id
    model: str
    tp: int
    nodes: int = 1
    role: CandidateRole = "aggregated"


@dataclass(frozen=True)
class FleetPair:
    """A route through a prefill pool and a decode pool of one model: a request is prefilled on a replica of
    `prefill`, its KV cache sent to a replica of `decode`, which generates the rest."""

    id: str
    model: str
    prefill: str  # FleetCandidate.id, role "prefill"
    decode: str  # FleetCandidate.id, role "decode"


@dataclass(frozen=True)
class FleetSlice:
    """A share of one model's traffic: `rate_rps` requests/s of one length bucket."""

    id: str
    model: str
    rate_rps: float


@dataclass(frozen=True)
class FleetProblem:
    """capacity_rps[s][c] = max requests/s of slice s one replica of candidate c sustains within the SLOs
    (0 = cannot serve). Row s follows `slices`, column c follows `candidates`.

    Disaggregated pairs: pair_capacity_rps[s][q] = requests/s of slice s one replica of pair q's prefill
    pool sustains when their KV caches go over q's link (TTFT = queueing + prefill + transfer);
    capacity_rps[s][d] of q's decode pool d = requests/s of s one decode replica sustains. Traffic of s
    sent through q loads both pools; a pool's own `capacity_rps` column carries no direct traffic.

    `min_replicas` is a floor on a model's replica count (replicas may share one instance). `n_plus_one`
    names the models that must survive losing any one instance: model -> the utilisation the surviving
    replicas may run at while one instance is down (1.0 = up to their capacity within the SLOs, i.e.
    the SLOs still hold; lower = a stricter degraded target). Each replica group keeps carrying its
    planned traffic on its remaining replicas; see `solvers.fleet_milp`.
    """

    offerings: tuple[FleetOffering, ...]
    candidates: tuple[FleetCandidate, ...]
    slices: tuple[FleetSlice, ...]
    capacity_rps: tuple[tuple[float, ...], ...]
    target_utilisation: float = 1.0
    min_replicas: dict[str, int] = field(default_factory=dict)  # model -> replicas
    max_spot_share: float = 1.0  # of the traffic (req/s) served on spot
    budget_usd_per_hour: float | None = None
    mode: Literal["fractional", "whole-slice"] = "fractional"
    slice_factor: int = 1
    n_plus_one: dict[str, float] = field(default_factory=dict)  # model -> failover utilisation
    pairs: tuple[FleetPair, ...] = ()
    pair_capacity_rps: tuple[tuple[float, ...], ...] = ()  # [slice][pair]: see the class docstring


Routing = dict[str, dict[str, float]]
"""slice id -> candidate id (aggregated) or pair id -> share of the slice's traffic (the shares of a slice
sum to 1)."""


@dataclass(frozen=True)
class FleetSolution:
    """A plan: instances, replicas and routing; for N+1 models also where their replicas sit.

    `dedicated[c] = {k: i}`: i instances of c's offering each run k replicas of candidate c and nothing
    else (every replica of an N+1 model sits on such an instance). Losing one costs c at most max k
    replicas; the rest carry c's routed traffic within the model's failover utilisation.
    """

    status: SolveStatus
    cost_usd_per_hour: float
    instances: dict[str, int]  # offering id -> instances (only > 0)
    replicas: dict[str, int]  # candidate id -> replicas (only > 0)
    routing: Routing
    solver: str
    seconds: float
    gap: float | None
    variables: int
    constraints: int
    message: str = ""
    dedicated: dict[str, dict[int, int]] = field(default_factory=dict)
