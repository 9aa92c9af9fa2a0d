"""Pipeline-parallel replicas, disaggregated pools and the links between instances (planner.perf)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from catalog.loader import load_catalog
from planner.perf import Deployment, capacity_rps_many, engine_profile, memory_breakdown
from planner.perf.disagg import (
    decode_capacity_rps_many,
    decode_point,
    kv_bytes_per_token,
    kv_transfer_s,
    prefill_capacity_rps_many,
    prefill_point,
)
from planner.perf.iteration import IterationModel, capacity
from planner.perf.network import NETWORK_EFFICIENCY, Link, between, replica_link
from planner.perf.pipeline import (
    pipeline,
    pipeline_capacity_rps_many,
    pipeline_lengths_model,
    pipeline_memory,
    pipeline_point,
    pipeline_step_s,
    stage_model,
)
from planner.perf.roofline import coefficients, decode_step_s, prefill_alone_s, prefill_marginal_s, prompts_per_pass
from planner.perf.serving import _admission

CAT = load_catalog()
H100 = CAT.gpus["h100-sxm"]
P5 = CAT.offerings["aws:us-east-1:p5.48xlarge"]
LENGTHS = [(512, 128), (2048, 256), (8000, 200), (200, 2000)]


def dep(model: str, tp: int, gpu: str = "h100-sxm", weights: str = "bf16") -> Deployment:
    g = CAT.gpus[gpu]
    return Deployment(CAT.models[model], g, tp, weights, "bf16", engine_profile(CAT, "vllm", g))


def p5_link(gpus: int) -> Link:
    net = CAT.network(P5)
    assert net is not None
    return replica_link(net, P5.gpus_per_instance, gpus)


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_the_iteration_model_reproduces_the_serving_model(engine: str) -> None:
    """Two implementations of one model: the closed-form fixed point of serving.py and the bisection on N
    of iteration.py agree on a plain replica's capacity (within the former's bound on the half-step wait),
    also for an engine that prefills in passes of its own and gathers the prompts arriving meanwhile into
    one pass (SGLang; serving.py finds the prompts per pass at a given rate, iteration.py at a given N)."""
    d = Deployment(CAT.models["llama-3.3-70b"], H100, 4, "bf16", "bf16", engine_profile(CAT, engine, H100))
    c = coefficients(d)
    lengths = [*LENGTHS, (128, 128), (256, 256)]
    arr = np.asarray(lengths, dtype=float)
    i, o = arr[:, 0], arr[:, 1]

    def pass_prefill(k: np.ndarray) -> np.ndarray:
        return np.asarray(prefill_marginal_s(c, i, k), dtype=float)

    model = IterationModel(
        step_s=lambda n: np.asarray(decode_step_s(c, n, i + o / 2.0)),
        prefill_s=np.asarray(prefill_marginal_s(c, i), dtype=float),
        alone_s=np.asarray(prefill_alone_s(c, i), dtype=float) + c.request_s,
        output_len=o,
        limit=_admission(c, d, i, o)[0],
        wait_share=np.where(o > 1.0, c.arrival_wait_steps, 0.0),
        pass_prefill_s=pass_prefill if c.separate_prefill else None,
        pass_max=np.asarray(prompts_per_pass(c, i), dtype=float),
    )
    assert c.separate_prefill == (engine == "sglang")
    mine = capacity(model, 2.0, 0.05)
    theirs = capacity_rps_many(d, lengths, 2000, 50)
    for a, b in zip(mine, theirs, strict=True):
        assert a == pytest.approx(b, rel=0.02)


def test_a_stage_holds_its_share_of_layers_and_one_embedding_table() -> None:
    m = CAT.models["llama-3.1-405b"]
    s = stage_model(m, 2)
    assert s.layers == math.ceil(m.layers / 2) and s.tied_embeddings
    assert s.total_params == pytest.approx(m.total_params / 2, rel=0.02)
    ds = CAT.models["deepseek-v3"]
    # the heaviest stage is all MoE layers when a stage is no larger than the MoE part
    assert stage_model(ds, 2).moe_dense_layers == 0 and stage_model(ds, 2).is_moe


def test_405b_in_bf16_fits_two_h100_nodes_as_two_stages_not_one_node() -> None:
    whole = dep("llama-3.1-405b", 8)
    assert not memory_breakdown(whole).fits
    mem = pipeline_memory(pipeline(whole, 2, p5_link(8)))
    assert mem.fits and mem.max_tokens_in_kv > 100_000
    caps = pipeline_capacity_rps_many(pipeline(whole, 2, p5_link(8)), LENGTHS, 3000, 80)
    assert all(c > 0 for c in caps)


def test_pipeline_stages_cost_latency_but_add_kv_room() -> None:
    """A model that fits one node: pp2 x tp4 has about the KV room of tp8 (same GPUs), and a lone prompt
    waits for both stages in turn (the bubble): its TTFT is no lower than on tp8."""
    tp8 = dep("llama-3.3-70b", 8)
    pl = pipeline(dep("llama-3.3-70b", 4), 2, p5_link(4))
    assert pipeline_memory(pl).max_tokens_in_kv == pytest.approx(memory_breakdown(tp8).max_tokens_in_kv, rel=0.1)
    lone = pipeline_point(pl, 4096, 256, 1e-6)
    assert lone.ttft_s >= float(prefill_alone_s(coefficients(tp8), 4096))


def test_a_slower_network_never_raises_a_pipelines_capacity() -> None:
    whole = dep("llama-3.1-405b", 8)
    fast = pipeline_capacity_rps_many(pipeline(whole, 2, p5_link(8)), LENGTHS, 3000, 80)
    slow = pipeline_capacity_rps_many(pipeline(whole, 2, Link(1e9, 200e-6, "ethernet")), LENGTHS, 3000, 80)
    assert all(s <= f + 1e-12 for s, f in zip(slow, fast, strict=True))
    assert any(s < f for s, f in zip(slow, fast, strict=True))


def test_links_share_the_instances_nics() -> None:
    net = CAT.network(P5)
    assert net is not None
    one, four = replica_link(net, 8, 1), replica_link(net, 8, 4)
    assert one.bytes_per_s == pytest.approx(3200e9 / 8 / 8 * NETWORK_EFFICIENCY)
    assert four.bytes_per_s == pytest.approx(4 * one.bytes_per_s)
    slow = Link(1e9, 50e-6, "ethernet")
    path = between(four, slow)
    assert path.bytes_per_s == 1e9 and path.latency_s == 50e-6 and path.fabric == "efa+ethernet"


def test_a_prompts_kv_transfer_is_its_bytes_over_the_link() -> None:
    m = CAT.models["llama-3.3-70b"]
    per_token = kv_bytes_per_token(m, "bf16")
    assert per_token == 2 * 80 * 8 * 128 * 2  # K and V, 80 layers, 8 KV heads, head dim 128, bf16
    link = Link(10e9, 20e-6, "efa")
    assert float(kv_transfer_s(m, "bf16", 4000, link)) == pytest.approx(20e-6 + 4000 * per_token / 10e9)


def test_prefill_capacity_falls_with_the_link_and_vanishes_when_the_transfer_eats_the_ttft() -> None:
    d = dep("llama-3.3-70b", 4)
    inputs = [2000, 8000]
    nic = 1e12
    fast = prefill_capacity_rps_many(d, inputs, 3000, Link(100e9, 15e-6, "efa"), nic)
    slow = prefill_capacity_rps_many(d, inputs, 3000, Link(1e9, 50e-6, "ethernet"), nic)
    assert all(0 < s < f for s, f in zip(slow[:1], fast[:1], strict=True))
    # 8000 tokens of KV (2.6 GB) take 2.6 s at 1 GB/s: with the prefill, past a 3 s TTFT
    assert slow[1] == 0.0 and fast[1] > 0


def test_each_pool_serves_its_phase_faster_than_an_aggregated_replica() -> None:
    """Without the other phase on its GPUs, a prefill replica meets a TTFT target at a higher rate, and a
    decode replica meets a TPOT target at a higher rate, than the same replica doing both."""
    d = dep("llama-3.3-70b", 4)
    lengths = [(8000, 128), (2000, 256)]
    agg = capacity_rps_many(d, lengths, 3000, 60)
    pre = prefill_capacity_rps_many(d, [i for i, _ in lengths], 3000, Link(math.inf, 0.0, "none"), math.inf)
    dec = decode_capacity_rps_many(d, lengths, 60, math.inf)
    for a, p, q in zip(agg, pre, dec, strict=True):
        assert p > a and q > a


def test_decode_capacity_is_bounded_by_the_kv_cache() -> None:
    d = dep("llama-3.1-8b", 1, gpu="l4")
    tokens = memory_breakdown(d).max_tokens_in_kv
    (cap,) = decode_capacity_rps_many(d, [(16000, 64)], 10_000, math.inf)
    # at most tokens / (16000 + half the output) requests in flight, each decoding 63 tokens
    in_flight = tokens // (16000 + 32)
    step = float(decode_step_s(coefficients(d), in_flight, 16032))
    assert cap <= in_flight / (63 * step) * 1.0001


def test_a_pipeline_pool_prefills_at_one_stages_pace_and_decodes_as_its_pipeline() -> None:
    """A pipeline prefill pool: a lone prompt crosses every stage in turn (the aggregated pipeline's lone
    TTFT), but the stages work on different prompts at once, so with room in the TTFT target twice the
    stages (each half as deep) prefill about twice the prompts. Its decode side iterates as the pipeline."""
    whole = dep("llama-3.1-405b", 8)
    none = Link(math.inf, 0.0, "none")
    caps = []
    for pp in (2, 4):
        pl = pipeline(whole, pp, p5_link(8))
        lone = pipeline_point(pl, 6000, 1, 1e-9).ttft_s
        assert prefill_point(pl, 6000, 1e-9, none).prefill_s == pytest.approx(lone, rel=1e-6)
        (cap,) = prefill_capacity_rps_many(pl, [6000], 1e6, none, math.inf)
        caps.append(cap)
        assert decode_point(pl, 6000, 300, 1e-9).tpot_s == pytest.approx(pipeline_step_s(pl, 1, 6150), rel=1e-6)
        (dec,) = decode_capacity_rps_many(pl, [(6000, 300)], 1e6, math.inf)
        assert dec > 0
    assert caps[1] == pytest.approx(2 * caps[0], rel=0.1)
    # one stage's pass per prompt, not every stage's: a serial pipeline would prefill 1 / lone prompts per s
    assert caps[0] > 1.5 / pipeline_point(pipeline(whole, 2, p5_link(8)), 6000, 1, 1e-9).ttft_s


def test_an_sglang_pipeline_gathers_the_prompts_of_a_micro_batch_into_one_pass() -> None:
    """SGLang prefills in passes of its own; on a pipeline the first stage schedules once per micro-batch,
    so a pass holds the prompts that arrived since, sharing the stage's weight read and fixed costs. Short
    prompts at high rates gain capacity over one pass per prompt; where the token budget holds one prompt
    per pass the two are the same model."""
    whole = Deployment(CAT.models["llama-3.1-8b"], H100, 1, "bf16", "bf16", engine_profile(CAT, "sglang", H100))
    pl = pipeline(whole, 2, p5_link(1))
    lengths = ((128, 128), (256, 256), (2048, 512))
    gathered = pipeline_lengths_model(pl, lengths)
    alone = replace(gathered, pass_prefill_s=None)
    with_k = capacity(gathered, 3.0, 0.1)
    one_each = capacity(alone, 3.0, 0.1)
    assert with_k[0] > 1.3 * one_each[0] and with_k[1] > 1.1 * one_each[1]
    assert np.all(with_k >= one_each * (1 - 1e-9))
    single = replace(gathered, pass_max=np.ones(len(lengths)))
    assert capacity(single, 3.0, 0.1) == pytest.approx(one_each, rel=1e-9)
    # an engine that mixes prompts into decode steps has no pass of its own to share
    mixed = pipeline(dep("llama-3.1-8b", 1), 2, p5_link(1))
    assert pipeline_lengths_model(mixed, lengths).pass_prefill_s is None
