"""Request-level simulation of a plan: arrivals, routing and every replica's engine, iteration by iteration.

`simulate_plan` replays a Plan (with the spec and catalog it came from) and returns a SimulationResult:
latency percentiles, SLO attainment, goodput, utilisation and KV occupancy over time. Iteration latencies
come from the estimator (planner/perf) through `planner.simulate.timing`.
"""

from planner.simulate.result import SimulationResult
from planner.simulate.run import ROUTINGS, SimulationOptions, simulate_plan

__all__ = ["ROUTINGS", "SimulationOptions", "SimulationResult", "simulate_plan"]
