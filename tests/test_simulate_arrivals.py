"""Arrivals for the simulator: each trace format's own timestamps (scaled to the planned rate), Poisson and
Gamma processes, lengths drawn from the workload, determinism for a seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from planner.errors import InputError
from planner.simulate.arrivals import ModelTraffic, generate
from planner.spec import Workload

TRACES = Path(__file__).resolve().parent / "data" / "traces"


def traffic(workload: dict[str, object]) -> ModelTraffic:
    """A model planned at its workload's rate_rps."""
    w = Workload.model_validate(workload)
    assert w.rate_rps is not None
    return ModelTraffic("m", w.rate_rps, w, "models[0].workload")


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("azure-2023-code-excerpt.csv", "azure-2023"),
        ("mooncake-conversation-excerpt.jsonl", "mooncake"),
        ("burstgpt-synthetic.csv", "burstgpt"),
    ],
)
def test_trace_timestamps_are_replayed_at_the_planned_rate(path: str, fmt: str) -> None:
    m = traffic({"rate_rps": 5, "trace": {"path": path, "format": fmt}})
    req = generate((m,), TRACES, seed=0)
    assert req.processes == ("trace",)
    assert np.all(np.diff(req.arrival_s) >= 0) and req.arrival_s[0] == 0.0
    n = req.count
    assert (n - 1) / float(req.arrival_s[-1]) == pytest.approx(5.0, rel=1e-9)  # the trace once, at 5 req/s
    again = generate((m,), TRACES, seed=3)  # the trace's own order: no randomness
    assert np.array_equal(again.arrival_s, req.arrival_s) and np.array_equal(again.input_len, req.input_len)
    longer = generate((m,), TRACES, duration_s=3 * req.duration_s)  # repeats to fill the duration
    assert longer.count > 2 * n


def test_poisson_and_gamma_rates_and_burstiness() -> None:
    m = traffic(
        {
            "rate_rps": 20,
            "histogram": [
                {"input_len": 100, "output_len": 10, "share": 0.25},
                {"input_len": 900, "output_len": 90, "share": 0.75},
            ],
        }
    )
    poisson = generate((m,), TRACES, process="poisson", duration_s=2000, seed=1)
    gaps = np.diff(poisson.arrival_s)
    assert poisson.count / 2000 == pytest.approx(20, rel=0.03)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.05)
    assert float(np.mean(poisson.input_len == 900)) == pytest.approx(0.75, abs=0.02)
    bursty = generate((m,), TRACES, burstiness_cv=3.0, duration_s=2000, seed=1)
    gaps = np.diff(bursty.arrival_s)
    assert bursty.processes == ("gamma",)
    assert bursty.count / 2000 == pytest.approx(20, rel=0.1)
    assert gaps.std() / gaps.mean() == pytest.approx(3.0, rel=0.1)
    same = generate((m,), TRACES, burstiness_cv=3.0, duration_s=2000, seed=1)
    assert np.array_equal(same.arrival_s, bursty.arrival_s)


def test_distribution_lengths_follow_the_clipped_distribution() -> None:
    m = traffic(
        {
            "rate_rps": 50,
            "distribution": {
                "input": {"kind": "lognormal", "median": 600, "sigma": 0.9, "max": 8000},
                "output": {"kind": "constant", "value": 64},
            },
        }
    )
    req = generate((m,), TRACES, duration_s=200, seed=2)
    assert req.processes == ("poisson",)
    assert np.median(req.input_len) == pytest.approx(600, rel=0.05)
    assert req.input_len.max() <= 8000 and np.all(req.output_len == 64)


def test_trace_arrivals_need_timestamps() -> None:
    m = traffic({"rate_rps": 5, "histogram": [{"input_len": 10, "output_len": 10, "share": 1}]})
    with pytest.raises(InputError, match="no trace with timestamps"):
        generate((m,), TRACES, process="trace")
