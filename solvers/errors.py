"""The solvers' own errors. They name arguments and quantities, never command-line flags or spec paths:
only the application layer knows how a user spelled an input, so it maps `argument` to a flag or field.
"""

from __future__ import annotations


class SolverArgumentError(ValueError):
    """An argument of a solver entry point is out of range. `argument` is the parameter's name
    (`time_limit_s`, `input_len`, ...); the message says the bad value and what is valid."""

    def __init__(self, argument: str, message: str) -> None:
        self.argument = argument
        self.message = message
        super().__init__(f"{argument}: {message}")


class SolverFailure(RuntimeError):
    """A solver back-end failed for a reason that is not the problem's (not an infeasibility)."""


class PlacementInfeasible(Exception):
    """No offloading placement meets the limits. `binding` names what to change: "memory" (host RAM and
    disk, or smaller weights), "latency" (the latency target) or "gpu_memory" (a larger GPU)."""

    def __init__(self, message: str, binding: str) -> None:
        self.message = message
        self.binding = binding
        super().__init__(message)
