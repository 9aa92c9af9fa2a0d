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
    """An instance type one may rent (on-demand and spot are two distinct FleetOfferings)."""

    id: str
    price_usd_per_hour: float
    gpus_per_instance: int
    available: int | None = None  # max instances; None = unlimited
    spot: bool = False


@dataclass(frozen=True)
class FleetCandidate:
    """One replica configuration: uses `tp` GPUs of one instance of `offering`, serves `model`."""

    id: str
    offering: str  # FleetOffering.id
    model: str
    tp: int


@dataclass(frozen=True)
class FleetSlice:
    """A share of one model's traffic: `rate_rps` requests/s of one length bucket."""

    id: str
    model: str
    rate_rps: float


@dataclass(frozen=True)
class FleetProblem:
    """capacity_rps[s][c] = max requests/s of slice s one replica of candidate c sustains within the SLOs
    (0 = cannot serve). Row s follows `slices`, column c follows `candidates`."""

    offerings: tuple[FleetOffering, ...]
    candidates: tuple[FleetCandidate, ...]
    slices: tuple[FleetSlice, ...]
    capacity_rps: tuple[tuple[float, ...], ...]
    target_utilisation: float = 1.0
    min_replicas: dict[str, int] = field(default_factory=dict)  # model -> replicas
    max_spot_share: float = 1.0  # of total cost
    budget_usd_per_hour: float | None = None
    mode: Literal["fractional", "whole-slice"] = "fractional"
    slice_factor: int = 1


@dataclass(frozen=True)
class FleetSolution:
    status: SolveStatus
    cost_usd_per_hour: float
    instances: dict[str, int]  # offering id -> instances (only > 0)
    replicas: dict[str, int]  # candidate id -> replicas (only > 0)
    routing: dict[str, dict[str, float]]  # slice id -> candidate id -> share (sums to 1)
    solver: str
    seconds: float
    gap: float | None
    variables: int
    constraints: int
    message: str = ""
