"""What a `gpuplan simulate` run is asked for: arrivals, rate, duration, seed, routing, preemption, prefix cache.

Each value a user typed is checked here with the flag that set it (`SimulationOptions.check`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from planner.errors import InputError
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
        """The --rate value as req/s (None when absent or 'trace')."""
        if self.rate is None or self.rate == "trace":
            return None
        try:
            value = float(self.rate)
        except ValueError:
            raise InputError(f"must be a rate in req/s or 'trace', got {self.rate!r}", where="--rate") from None
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"must be a positive rate in req/s or 'trace', got {self.rate!r}", where="--rate")
        return value

    def check(self) -> None:
        """Flag values a user typed: each problem names its flag."""
        if self.burstiness_cv is not None and not (math.isfinite(self.burstiness_cv) and self.burstiness_cv > 0):
            raise InputError(f"must be a positive number (1 = Poisson), got {self.burstiness_cv}", where="--burstiness")
        if not (math.isfinite(self.rate_factor) and self.rate_factor > 0):
            raise InputError(f"must be a positive number, got {self.rate_factor}", where="--rate-factor")
        if self.rate is not None:
            self.total_rate_rps()
            if self.rate_factor != 1.0:
                raise InputError("give --rate or --rate-factor, not both", where="--rate")
        if self.duration_s is not None and not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise InputError(f"must be a positive number of seconds, got {self.duration_s}", where="--duration")
        if not (math.isfinite(self.warmup_s) and self.warmup_s >= 0):
            raise InputError(f"must be a number of seconds >= 0, got {self.warmup_s}", where="--warmup")
        if self.duration_s is not None and self.warmup_s >= self.duration_s:
            raise InputError(
                f"the warm-up ({self.warmup_s:g} s) must be shorter than the duration ({self.duration_s:g} s)",
                where="--warmup",
            )
        if not (0.0 <= self.prefix_cache_hit < 1.0):
            raise InputError(f"must be a share in [0, 1), got {self.prefix_cache_hit}", where="--prefix-cache-hit")
        if self.routing not in ROUTINGS:
            raise InputError(f"unknown routing {self.routing!r}; valid: {', '.join(ROUTINGS)}", where="--routing")
        if not (0 <= self.seed < 2**63):
            raise InputError(f"must be an integer >= 0, got {self.seed}", where="--seed")
