"""How the command line spells each parameter that a domain error names.

Domain modules raise `ArgumentError(argument, message)` with the parameter's own name (`rate_factor`,
`cost_tolerance`, `gpu`); only this layer and planner/cli know that the user typed it as `--rate-factor`.
`@spelled_as_flags` on a command's `execute` turns such an error into the message the user sees.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from planner.errors import ArgumentError

FLAGS: dict[str, str] = {
    # simulate (planner/simulate: options, run, arrivals, pools); plan and sweep reach it for percentile SLOs
    "arrivals": "--arrivals",
    "burstiness_cv": "--burstiness",
    "rate": "--rate",
    "rate_factor": "--rate-factor",
    "duration_s": "--duration",
    "warmup_s": "--warmup",
    "prefix_cache_hit": "--prefix-cache-hit",
    "routing": "--routing",
    "seed": "--seed",
    "spec": "--spec",
    "catalog": "--catalog",
    # plan, sweep, schedule (planner/solve.py)
    "solver": "--solver",
    "time_limit_s": "--time-limit",
    # estimate (planner/estimate_shapes.py)
    "tp": "--tp",
    "disagg": "--disagg",
    "offering": "--offering",
    "decode_offering": "--decode-offering",
    # check (planner/check.py)
    "cost_tolerance": "--cost-tolerance",
    # catalog listings (planner/listing.py)
    "gpu": "--gpu",
    "cloud": "--cloud",
    "region": "--region",
    "vendor": "--vendor",
    "family": "--family",
    "max_price": "--max-price",
    "min_memory_gb": "--min-memory-gb",
    "model": "--model",
    "term": "--term",
    "min_confidence": "--min-confidence",
}
"""Domain parameter -> the flag that sets it (the same spelling in every command that has it)."""

P = ParamSpec("P")
R = TypeVar("R")


def spelled_as_flags(execute: Callable[P, R]) -> Callable[P, R]:
    """`execute` with every ArgumentError re-raised as the user typed it: named by its flag."""

    @functools.wraps(execute)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return execute(*args, **kwargs)
        except ArgumentError as err:
            raise err.spelled(FLAGS) from None

    return run
