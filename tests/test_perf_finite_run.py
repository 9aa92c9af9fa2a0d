"""A benchmark of a finite number of prompts offered faster than one replica sustains (the fluid model in
planner.perf.calibration.finite_run)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from catalog.loader import load_catalog
from planner.perf import Deployment, engine_profile, predict
from planner.perf.calibration import deployment_for, finite_run, fluid_batch, load_rows, predict_row

CAT = load_catalog()


def make(model: str, gpu: str, tp: int, w: str, kv: str, engine: str, **extra: object) -> Deployment:
    g = CAT.gpus[gpu]
    return Deployment(CAT.models[model], g, tp, w, kv, engine_profile(CAT, engine, g), **extra)  # type: ignore[arg-type]


DEP = make("llama-3.1-8b", "l4", 1, "fp8", "fp8", "vllm")  # a small KV cache: the limit is reached
IN, OUT = 1000, 200


def test_fluid_batch_by_hand() -> None:
    """mu(N) = a N up to the limit L: the batch approaches rate / a as 1 - exp(-a t) when rate < a L;
    otherwise it reaches L at t = ln(rate / (rate - a L)) / a and the queue grows at rate - a L."""
    a, limit = 0.5, 100.0
    n_grid, mu = np.asarray([0.0, 50.0, limit]), np.asarray([0.0, 25.0, 50.0])
    t = np.asarray([0.0, 1.0, 4.0, 40.0])
    batch, queue = fluid_batch(n_grid, mu, 20.0, t)
    assert batch == pytest.approx(40.0 * -np.expm1(-a * t))
    assert not queue.any()
    rate = 80.0
    full_s = math.log(rate / (rate - a * limit)) / a
    batch, queue = fluid_batch(n_grid, mu, rate, np.asarray([full_s / 2, full_s + 10.0]))
    assert batch == pytest.approx([rate / a * -math.expm1(-a * full_s / 2), limit])
    assert queue == pytest.approx([0.0, (rate - a * limit) * 10.0])


def test_a_run_far_past_the_limit_queues_and_serves_at_the_limits_rate() -> None:
    full = predict(DEP, IN, OUT, concurrency="max")
    limit = full.admission_limit
    rate = 3.0 * full.requests_per_s
    short = finite_run(DEP, IN, OUT, rate, 5000, limit)
    long = finite_run(DEP, IN, OUT, rate, 50000, limit)
    # the batch is at the limit: every decode step is the full batch's
    assert long.tpot_median_s == pytest.approx(full.tpot_ms * 1e-3, rel=1e-6)
    # the queue grows with the run: ten times the prompts, about ten times the median wait (a little
    # more: the batch fills before the queue forms)
    assert 10.0 < long.ttft_median_s / short.ttft_median_s < 11.0
    # the median arrival waits for the queue built over half the window, drained at the limit's rate
    window = 50000 / rate
    wait = (rate - full.requests_per_s) * window / 2 / full.requests_per_s
    assert long.ttft_median_s == pytest.approx(wait, rel=0.05)
    # served: the limit's rate, never the offered one
    assert long.requests_per_s < full.requests_per_s <= rate
    assert long.requests_per_s == pytest.approx(full.requests_per_s, rel=0.1)


def test_a_run_the_limit_could_serve_settles_where_completions_match_arrivals() -> None:
    full = predict(DEP, IN, OUT, concurrency="max")
    rate = 0.8 * full.requests_per_s
    run = finite_run(DEP, IN, OUT, rate, 20000, full.admission_limit)
    # the batch settles at N with mu(N) = rate: the closed loop at that N has the run's TPOT
    settled = [predict(DEP, IN, OUT, concurrency=n) for n in range(1, int(full.admission_limit) + 1)]
    n_star = next(p.concurrency for p in settled if p.requests_per_s >= rate)
    at = predict(DEP, IN, OUT, concurrency=int(n_star))
    assert run.tpot_median_s == pytest.approx(at.tpot_ms * 1e-3, rel=0.05)
    assert run.ttft_median_s < 2.0 * at.ttft_ms * 1e-3  # no queue
    assert run.requests_per_s == pytest.approx(rate, rel=0.05)


def test_more_load_never_gives_faster_latencies() -> None:
    limit = predict(DEP, IN, OUT, concurrency="max").admission_limit
    runs = [finite_run(DEP, IN, OUT, rate, 1000, limit) for rate in (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)]
    for a, b in zip(runs, runs[1:], strict=False):
        assert b.ttft_median_s >= a.ttft_median_s * (1 - 1e-9)
        assert b.tpot_median_s >= a.tpot_median_s * (1 - 1e-9)
        assert b.requests_per_s >= a.requests_per_s * (1 - 1e-9)


def test_published_runs_past_saturation_serve_between_the_limits_share_and_the_offered_rate() -> None:
    """Every scored open-loop row the model finds past saturation: the predicted throughput is at most
    the offered rate and at least what the limit's rate allows once the batch has filled (a run that
    served at one request's pace, as an earlier backlog model did, fails this)."""
    seen = 0
    for row in load_rows():
        if not row.scored or row.mode != "rate" or row.metric not in ("output_tokens_per_s", "requests_per_s"):
            continue
        dep = deployment_for(row, CAT, engine_profile(CAT, row.engine, CAT.gpus[row.gpu]))
        point = predict(dep, round(row.input_len), round(row.output_len), rate_rps=row.rate_rps)
        if not point.saturated:
            continue
        seen += 1
        rps = predict_row(row, dep) / (row.output_len if row.metric == "output_tokens_per_s" else 1.0)
        prompts = row.prompts or 1000
        served = min(row.rate_rps, point.requests_per_s)
        assert served * prompts / (prompts + point.admission_limit) * 0.9 <= rps <= row.rate_rps, row.key
    assert seen >= 5
