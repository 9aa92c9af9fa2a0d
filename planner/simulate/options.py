"""What a `gpuplan simulate` run is asked for: arrivals, rate, duration, seed, routing, preemption, prefix cache.

Each value is checked here (`SimulationOptions.check`); an error names the option (`ArgumentError`), which
the command layer spells as the flag that set it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from planner.errors import ArgumentError
from planner.simulate.arrivals import ArrivalProcess

Routing = Literal["plan", "least-loaded", "round-robin"]
ROUTINGS: tuple[Routing, ...] = ("plan", "least-loaded", "round-robin")


@dataclass(frozen=True)
class SimulationOptions:
    arrivals: ArrivalProcess = "auto"
    burstiness_cv: float | None = None
    rate_factor: float = 1.0
    rate: str | float | None = None  # total req/s over all models, or "trace": each trace at its recorded pace
    duration_s: float | None = None
    warmup_s: float = 0.0
    seed: int = 0
    routing: Routing = "plan"
    preemption: Literal["engine", "recompute", "swap"] = "engine"
    prefix_cache_hit: float = 0.0

    def total_rate_rps(self) -> float | None:
        """The `rate` value as req/s (None when absent or 'trace')."""
        if self.rate is None or self.rate == "trace":
            return None
        try:
            value = float(self.rate)
        except ValueError:
            raise ArgumentError("rate", f"must be a rate in req/s or 'trace', got {self.rate!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise ArgumentError("rate", f"must be a positive rate in req/s or 'trace', got {self.rate!r}")
        return value

    def check(self) -> None:
        """Values a user typed: each problem names its option."""
        if self.burstiness_cv is not None and not (math.isfinite(self.burstiness_cv) and self.burstiness_cv > 0):
            raise ArgumentError("burstiness_cv", f"must be a positive number (1 = Poisson), got {self.burstiness_cv}")
        if not (math.isfinite(self.rate_factor) and self.rate_factor > 0):
            raise ArgumentError("rate_factor", f"must be a positive number, got {self.rate_factor}")
        if self.rate is not None:
            self.total_rate_rps()
            if self.rate_factor != 1.0:
                raise ArgumentError("rate", "give {rate} or {rate_factor}, not both", ("rate", "rate_factor"))
        if self.duration_s is not None and not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ArgumentError("duration_s", f"must be a positive number of seconds, got {self.duration_s}")
        if not (math.isfinite(self.warmup_s) and self.warmup_s >= 0):
            raise ArgumentError("warmup_s", f"must be a number of seconds >= 0, got {self.warmup_s}")
        if self.duration_s is not None and self.warmup_s >= self.duration_s:
            raise ArgumentError(
                "warmup_s",
                f"the warm-up ({self.warmup_s:g} s) must be shorter than the duration ({self.duration_s:g} s)",
            )
        if not (0.0 <= self.prefix_cache_hit < 1.0):
            raise ArgumentError("prefix_cache_hit", f"must be a share in [0, 1), got {self.prefix_cache_hit}")
        if self.routing not in ROUTINGS:
            raise ArgumentError("routing", f"unknown routing {self.routing!r}; valid: {', '.join(ROUTINGS)}")
        if not (0 <= self.seed < 2**63):
            raise ArgumentError("seed", f"must be an integer >= 0, got {self.seed}")
