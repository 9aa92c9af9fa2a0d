"""Replica shapes beyond one tensor-parallel instance: a lone request replayed on a pipeline replica, and on
a prefill/decode pair, takes exactly the estimator's per-iteration times (one performance model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from catalog.loader import load_catalog
from catalog.types import Catalog
from planner.capacity.disaggregated import pool_links
from planner.inputs import load_inputs
from planner.perf import Deployment, engine_profile
from planner.perf.disagg import kv_transfer_s
from planner.perf.network import Link, between, replica_link
from planner.perf.pipeline import Pipeline, activation_s, pipeline, pipeline_capacity_rps_many, pipeline_step_s
from planner.perf.roofline import decode_step_time_s, prefill_chunk_time_s
from planner.result import Plan
from planner.simulate.pools import replay_pools
from planner.simulate.replay import replay
from planner.simulate.run import SimulationOptions, simulate_plan
from planner.simulate.timing import IterationTimes, PipelineIterationTimes, pipeline_engine_limits

CATALOG: Catalog = load_catalog(())
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = ROOT / "tests" / "golden" / "examples"


def test_a_lone_request_on_a_pipeline_replica_takes_the_pipeline_models_times() -> None:
    """Llama-3.1-405B as tp8 x pp2 on two p5.48xlarge (examples/llama-405b-multinode): TTFT is the prompt
    through both stages in turn plus one activation hop; every decode step is the pipeline model's step at
    batch 1 (the bubble: each stage waits for the other)."""
    offering = next(o for o in CATALOG.offerings.values() if o.instance_type == "p5.48xlarge")
    net = CATALOG.network(offering)
    assert net is not None
    gpu = CATALOG.gpus["h100-sxm"]
    whole = Deployment(CATALOG.models["llama-3.1-405b"], gpu, 8, "bf16", "bf16", engine_profile(CATALOG, "vllm", gpu))
    pl = pipeline(whole, 2, replica_link(net, 8, 8))
    times = PipelineIterationTimes(pl, 5000)
    ins, outs = np.asarray([1024, 4096, 300]), np.asarray([256, 512, 40])
    r = replay(whole, np.arange(3) * 1000.0, ins, outs, times=times, limits=pipeline_engine_limits(pl))
    assert np.all(r.queue_s == 0.0) and r.preemptions == 0
    for k, (i, o) in enumerate(zip(ins.tolist(), outs.tolist(), strict=True)):
        ttft = 2 * prefill_chunk_time_s(pl.stage, i, 0) + float(activation_s(pl, np.asarray(float(i))))
        assert r.ttft_s[k] == pytest.approx(ttft, rel=1e-9)
        decode = sum(pipeline_step_s(pl, 1.0, i + j) for j in range(o - 1))
        assert r.e2e_s[k] - r.ttft_s[k] == pytest.approx(decode, rel=2e-3)
    # the pipeline's KV cache and sequence limits are the estimator's pipeline memory model
    limits = pipeline_engine_limits(pl)
    assert limits.max_seqs == 2 * int(pl.stage.factor("max_num_seqs"))
    assert r.total_blocks == limits.kv_tokens // 16


def test_a_lone_request_through_a_prefill_decode_pair_takes_the_estimators_times() -> None:
    """examples/long-prompt-disagg routes its 6,000-token prompts mostly through p5.48xlarge tp2 prefill
    replicas and p4d.24xlarge tp8 decode replicas (this test sends the whole bucket through that pair,
    whatever share the plan gives it). At a rate low enough that every request is alone, TTFT is the prefill
    pool's lone prefill plus the KV transfer over the path the planner priced (the plan's kv_transfer_ms),
    and TPOT the decode pool's step at batch 1 (planner.perf.disagg's definitions)."""
    golden = json.loads((GOLDEN / "long-prompt-disagg.plan.json").read_text(encoding="utf-8"))["data"]
    plan = Plan.model_validate(golden)
    [planned] = [s for s in plan.routing if s.input_len == 6000]
    [route] = [
        r
        for r in planned.routes
        if r.decode_candidate and "p5.48xlarge/tp2/" in r.candidate and "p4d.24xlarge/tp8/" in r.decode_candidate
    ]
    route = route.model_copy(update={"share": 1.0})
    planned = planned.model_copy(update={"routes": (route,)})
    plan = plan.model_copy(update={"routing": tuple(planned if s.input_len == 6000 else s for s in plan.routing)})
    inputs = load_inputs(EXAMPLES / "long-prompt-disagg.yaml")
    sim = simulate_plan(plan, inputs, SimulationOptions(arrivals="poisson", rate="0.01", duration_s=3000))
    [bucket] = [b for b in sim.buckets if b.input_len_range == (6000, 6000)]
    assert bucket.requests >= 10

    assert route.candidate.split("@")[1].startswith("aws:us-east-1:p5.48xlarge/tp2/")
    prefill, decode, link = _pair_setup(prefill_tp=2)
    transfer_s = float(kv_transfer_s(prefill.model, "bf16", 6000.0, link))
    assert route.kv_transfer_ms == pytest.approx(transfer_s * 1e3, abs=1e-3)
    # the prompt fits the engine's token budget: one pass
    assert prefill.factor("max_num_batched_tokens") >= 6000
    prefill_s = prefill_chunk_time_s(prefill, 6000, 0)
    assert bucket.ttft_p50_ms == pytest.approx((prefill_s + transfer_s) * 1e3, abs=2e-3)
    tpot_s = float(np.mean([decode_step_time_s(decode, 1, 6000 + j) for j in range(planned.output_len - 1)]))
    assert bucket.tpot_p50_ms == pytest.approx(tpot_s * 1e3, rel=2e-3)


def _pair_setup(prefill_tp: int = 4) -> tuple[Deployment, Deployment, Link]:
    """long-prompt-disagg's pairs: llama-3.3-70b fp8 prefilled on p5.48xlarge at `prefill_tp`, decoded on
    p4d.24xlarge tp8, the KV cache over the slower end of their EFA networks."""
    model = CATALOG.models["llama-3.3-70b"]
    h100, a100 = CATALOG.gpus["h100-sxm"], CATALOG.gpus["a100-40gb"]
    prefill = Deployment(model, h100, prefill_tp, "fp8", "bf16", engine_profile(CATALOG, "vllm", h100))
    decode = Deployment(model, a100, 8, "fp8", "bf16", engine_profile(CATALOG, "vllm", a100))
    ends = []
    for itype, gpus in (("p5.48xlarge", prefill_tp), ("p4d.24xlarge", 8)):
        net = CATALOG.network(next(o for o in CATALOG.offerings.values() if o.instance_type == itype))
        assert net is not None
        ends.append(pool_links(net, 8, gpus, False)[0])
    return prefill, decode, between(*ends)


def test_replay_pools_of_lone_requests_takes_the_estimators_times() -> None:
    """`replay_pools` (pools without a plan, as bench/disagg_validation.py replays them): requests far apart
    take the prefill pool's lone prefill plus the KV transfer as TTFT, and the decode pool's batch-1 steps as
    TPOT; a one-token request ends with its prefill (nothing sent)."""
    prefill, decode, link = _pair_setup()
    ins, outs = np.asarray([6000, 1000, 3000]), np.asarray([150, 40, 1])
    r = replay_pools(prefill, decode, 2, 1, link, np.arange(3) * 1000.0, ins, outs)
    assert not r.rejected.any()
    for k, (i, o) in enumerate(zip(ins.tolist(), outs.tolist(), strict=True)):
        sent = float(kv_transfer_s(prefill.model, "bf16", float(i), link)) if o > 1 else 0.0
        assert r.ttft_s[k] == pytest.approx(prefill_chunk_time_s(prefill, i, 0) + sent, rel=1e-9)
        if o > 1:
            tpot = float(np.mean([decode_step_time_s(decode, 1, i + j) for j in range(o - 1)]))
            assert r.tpot_s[k] == pytest.approx(tpot, rel=2e-3)
        else:
            assert np.isnan(r.tpot_s[k])


def test_prefill_chunks_stretch_an_aggregated_replicas_decodes_but_not_a_decode_pools() -> None:
    """The interference disaggregation removes: on one H100 serving llama-3.1-8b with 4,000-token prompts and
    100-token outputs at 6 req/s (prefill busy about two thirds of the time), the decode iterations that carry
    prefill chunks make the p90 TPOT of an aggregated replica many times a lone request's (measured: 163 ms
    against 9 ms), while the same requests through a prefill replica and a decode replica of the same
    deployment keep the decode pool's TPOT near a small batch's step (11 ms)."""
    gpu = CATALOG.gpus["h100-sxm"]
    dep = Deployment(CATALOG.models["llama-3.1-8b"], gpu, 1, "bf16", "bf16", engine_profile(CATALOG, "vllm", gpu))
    n = 1500
    arrival = np.cumsum(np.random.default_rng(3).exponential(1.0, n)) / 6.0
    ins, outs = np.full(n, 4000), np.full(n, 100)
    agg = replay(dep, arrival, ins, outs)
    link = Link(450e9, 5e-6, "nvlink")
    pools = replay_pools(dep, dep, 1, 1, link, arrival, ins, outs)
    lone = float(np.mean([decode_step_time_s(dep, 1, 4000 + j) for j in range(99)]))
    agg_p90, pool_p90 = float(np.percentile(agg.tpot_s[150:], 90)), float(np.percentile(pools.tpot_s[150:], 90))
    assert agg_p90 > 5.0 * lone
    assert pool_p90 < 2.0 * lone
    # the same run twice: identical
    again = replay_pools(dep, dep, 1, 1, link, arrival, ins, outs)
    assert np.array_equal(again.ttft_s, pools.ttft_s) and np.array_equal(again.tpot_s, pools.tpot_s, equal_nan=True)


def _sglang_pipeline() -> Pipeline:
    offering = next(o for o in CATALOG.offerings.values() if o.instance_type == "p5.48xlarge")
    net = CATALOG.network(offering)
    assert net is not None
    gpu = CATALOG.gpus["h100-sxm"]
    whole = Deployment(CATALOG.models["llama-3.1-8b"], gpu, 1, "bf16", "bf16", engine_profile(CATALOG, "sglang", gpu))
    return pipeline(whole, 2, replica_link(net, 8, 1))


def test_a_prefill_pass_on_a_busy_pipeline_costs_one_stages_pass() -> None:
    """A prefill pass of its own (SGLang) while requests decode is one more micro-batch: each stage runs it
    once while the other stage keeps the decoding micro-batches moving, so it takes one stage's pass from
    their time; its prompt's first token comes out after the other stages, as a lone prefill's does."""
    pl = _sglang_pipeline()
    times = PipelineIterationTimes(pl, 4096)
    for n in (128, 1024, 4000):
        work = times.prefill_chunk_s(n, 0)
        assert times.busy_base_s(n) + work + times.first_token_lag_s(n) == pytest.approx(times.lone_prefill_s(n))
        assert times.busy_base_s(n) + work == pytest.approx(prefill_chunk_time_s(pl.stage, n, 0), rel=1e-9)
        assert times.busy_base_s(n) < times.idle_base_s(n)
    plain = IterationTimes(pl.whole, 4096)
    assert plain.busy_base_s(1024) == plain.idle_base_s(1024) and plain.first_token_lag_s(1024) == 0.0


def test_an_sglang_pipeline_at_the_planners_capacity_meets_its_targets_in_simulation() -> None:
    """The planner's capacity of an SGLang pipeline (prompts gathered per micro-batch, one stage's pass
    each) holds in the request-level simulator: mean TPOT at or under the target, and not far under it."""
    pl = _sglang_pipeline()
    (cap,) = pipeline_capacity_rps_many(pl, [(256, 256)], 1000, 50)
    n = 3000
    arrivals = np.cumsum(np.random.default_rng(0).exponential(1.0 / cap, n))
    r = replay(
        pl.whole, arrivals, np.full(n, 256), np.full(n, 256),
        times=PipelineIterationTimes(pl, 512), limits=pipeline_engine_limits(pl),
    )  # fmt: skip
    steady = slice(n // 5, None)
    tpot_ms = float(np.nanmean(r.tpot_s[steady])) * 1e3
    assert 0.6 * 50 <= tpot_ms <= 1.05 * 50
    assert float(np.mean(r.ttft_s[steady])) < 1.0
