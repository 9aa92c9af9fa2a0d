"""How every report writes a number: dollars, prices, milliseconds, percentages, durations, savings, gaps.

One function per kind of number, so the terminal, Markdown and CSV views agree to the character; `–` for
a value that is unknown or not finite. Pure functions of numbers; nothing here knows a Plan.
"""

from __future__ import annotations

import math

DASH = "–"


def usd(value: float | None, decimals: int = 2) -> str:
    """A dollar amount, `$4.79`; `–` when unknown."""
    if value is None or not math.isfinite(value):
        return DASH
    return f"${value:,.{decimals}f}"


def price(value: float | None) -> str:
    """A catalog price as published (up to 4 decimals, at least 2): `$0.9776`, `$55.04`."""
    if value is None or not math.isfinite(value):
        return DASH
    text = f"{value:,.4f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def ms(value: float | None) -> str:
    """Milliseconds: one decimal below 100 ms, whole numbers above."""
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


def pct(value: float | None, signed: bool = False, decimals: int = 1) -> str:
    """A percentage given in percent units (12.5 -> `12.5%`)."""
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:+.{decimals}f}%" if signed else f"{value:.{decimals}f}%"


# A latency target this loose is no target: `gpuplan import melange` writes 1e9 ms because Mélange's SLO
# is already inside its measured capacities. Reports say "none" rather than print a placeholder.
NO_SLO_MS = 1.0e9


def slo_ms(value: float) -> str:
    """An SLO in milliseconds, or `none` for the no-target placeholder."""
    return "none" if value >= NO_SLO_MS else ms(value)


def slo_pair(ttft_ms: float, tpot_ms: float, ttft_stat: str = "mean", tpot_stat: str = "mean") -> str:
    """`SLO mean TTFT 1,000 / p90 TPOT 50.0 ms` (every target names its statistic); without either target,
    say where the SLO went instead."""
    if ttft_ms >= NO_SLO_MS and tpot_ms >= NO_SLO_MS:
        return "no latency SLO of its own (the measured capacities carry it)"
    return f"SLO {ttft_stat} TTFT {slo_ms(ttft_ms)} / {tpot_stat} TPOT {slo_ms(tpot_ms)} ms"


def duration(seconds: float | None) -> str:
    """A duration in the unit a person reads it in: `0.25 s`, `42.0 s`, `13.8 min`, `2.5 h`, `3.1 days`."""
    if seconds is None or not math.isfinite(seconds):
        return DASH
    if abs(seconds) < 9.995:
        return f"{seconds:.2f} s"
    for unit, size, limit in (("s", 1.0, 60.0), ("min", 60.0, 3600.0), ("h", 3600.0, 172800.0)):
        if abs(seconds) < limit and round(abs(seconds) / size, 1) < limit / size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds / 86400.0:,.1f} days"


def saving(cost: float | None, baseline: float | None) -> str:
    """What `cost` saves against `baseline`, in percent of the baseline: the one way every report prints a
    saving (computed from the two costs and rounded once, so a headline and a table never disagree)."""
    if cost is None or baseline is None or not (math.isfinite(cost) and math.isfinite(baseline)) or baseline <= 0:
        return DASH
    text = pct(100.0 * (baseline - cost) / baseline)
    return "0.0%" if text == "-0.0%" else text


# A gap this large means the solver proved no useful lower bound (HiGHS reports 100% when its bound is 0).
NO_BOUND_GAP = 0.999


def gap_words(gap: float | None) -> str:
    """How far from optimal a plan the solver stopped early on may be, in words."""
    if gap is None or not math.isfinite(gap) or gap >= NO_BOUND_GAP:
        return "no bound proven, so a cheaper plan may exist"
    return f"within a {pct(100 * gap, decimals=2)} gap"


def num(value: float | None) -> str:
    """A rate or count: up to 3 significant decimals, no trailing zeros."""
    if value is None or not math.isfinite(value):
        return DASH
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:.3g}"


def length_range(bounds: tuple[int, int]) -> str:
    lo, hi = bounds
    return f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}"
