"""Request-level simulation of a plan: arrivals, routing and every replica's engine, iteration by iteration.

`planner.simulate.run.simulate_plan` replays a Plan (with the spec and catalog it came from) and returns a
`planner.simulate.result.SimulationResult`: latency percentiles, SLO attainment, goodput, utilisation and KV
occupancy over time. Iteration latencies come from the estimator (planner/perf) through
`planner.simulate.timing`. `planner.simulate.capacity` turns percentile targets into replica capacities for
the planner. (This package imports nothing eagerly, so the planner can use `capacity` without a cycle.)
"""
