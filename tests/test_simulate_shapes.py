"""Replica shapes beyond one tensor-parallel instance: a lone request replayed on a pipeline replica, and on
a prefill/decode pair, takes exactly the estimator's per-iteration times (one performance model)."""

from __future__ import annotations

import numpy as np
import pytest

from catalog.loader import load_catalog
from catalog.types import Catalog
from planner.perf import Deployment, engine_profile
from planner.perf.network import replica_link
from planner.perf.pipeline import activation_s, pipeline, pipeline_step_s
from planner.perf.roofline import prefill_chunk_time_s
from planner.simulate.replay import replay
from planner.simulate.timing import PipelineIterationTimes, pipeline_engine_limits

CATALOG: Catalog = load_catalog(())


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
