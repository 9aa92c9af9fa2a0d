"""Pipeline-parallel replicas: tensor parallel inside each instance, `pp` stages on `pp` instances.

A stage holds ceil(layers / pp) consecutive layers on `tp` GPUs of one instance; its memory and its
per-pass times are those of a model cut to that size (`stage_model`), so the roofline and the memory
model of planner/perf apply to it unchanged. The engine keeps `pp` micro-batches in flight (vLLM's
virtual engines), so in steady state every stage is busy with a different micro-batch of b = N / pp
requests; one token of every request in flight then takes

    t(N)    = pp x stage_step(b) + (pp - 1) x activation(b)        one pass through all stages
    b       = N / pp, or one request per micro-batch while N < pp (the pipeline bubble: fewer micro-batches
              than stages leave stages idle, so t(N) does not shrink with the batch)
    activation(tokens) = link latency + tokens x hidden x 2 bytes / (one GPU's NIC share)

and a prompt's prefill goes through the stages one after another (a lone request keeps only one stage
busy at a time):

    TTFT alone = pp x stage_prefill(I) + (pp - 1) x activation(I)
    p          = stage's marginal prefill time (each stage spends it once per prompt, in parallel)

An engine that prefills in passes of its own (SGLang) runs a pass as one more micro-batch, holding the
prompts that arrived since the first stage last scheduled (once per micro-batch, pp times an iteration),
which share the stage's weight read and fixed costs: p = p(k) as in `planner.perf.serving`.

The serving model of `planner.perf.iteration` turns these into TTFT/TPOT under load and a capacity.
Stage cuts are conservative: the heaviest stage (most MoE layers, one embedding table) stands for every
stage, and each stage reads an lm_head-sized table (the last one does; the others hold the embedding).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from catalog.types import ModelArch
from planner.perf.deployment import Deployment
from planner.perf.iteration import IterationModel, OperatingPoint, capacity, operating_point
from planner.perf.memory import ACT_BYTES, MemoryBreakdown, kv_admitted, memory_breakdown, sequence_limit
from planner.perf.network import Link
from planner.perf.roofline import coefficients, decode_step_s, prefill_alone_s, prefill_marginal_s, prompts_per_pass


@lru_cache(maxsize=256)
def stage_model(model: ModelArch, pp: int) -> ModelArch:
    """The heaviest of `pp` pipeline stages of `model` as a model of its own: ceil(layers / pp) layers,
    as many of them MoE layers as a stage can hold, one embedding table (the first stage's input
    embedding or the last one's lm_head)."""
    if pp <= 1:
        return model
    layers = math.ceil(model.layers / pp)
    moe_layers = model.layers - model.moe_dense_layers if model.is_moe else 0
    dense = layers - min(layers, moe_layers) if model.is_moe else 0
    data = model.model_dump()
    data.update(
        id=f"{model.id}~pp{pp}",
        layers=layers,
        moe_dense_layers=dense,
        tied_embeddings=True,
        notes=f"one of {pp} pipeline stages of {model.id}",
    )
    return ModelArch.model_validate(data)


@dataclass(frozen=True)
class Pipeline:
    """One replica of `pp` stages of `whole` (the model on tp GPUs of one instance per stage), joined by
    `link` (one stage's GPUs to the next stage's instance)."""

    whole: Deployment
    pp: int
    link: Link

    def __post_init__(self) -> None:
        if self.pp < 2:
            raise ValueError("a pipeline has 2 stages or more")

    @property
    def model(self) -> ModelArch:
        return self.whole.model

    @property
    def stage(self) -> Deployment:
        """One stage as a deployment of its own (the heaviest stage: see `stage_model`)."""
        return _stage(self.whole, self.pp)

    @property
    def gpus(self) -> int:
        return self.whole.tp * self.pp


@lru_cache(maxsize=1024)
def _stage(whole: Deployment, pp: int) -> Deployment:
    return replace(whole, model=stage_model(whole.model, pp))


def pipeline(whole: Deployment, pp: int, link: Link) -> Pipeline:
    """`whole` (the model on tp GPUs, as one stage runs it) cut into `pp` stages joined by `link`."""
    return Pipeline(whole=whole, pp=pp, link=link)


def pipeline_memory(pl: Pipeline, context_len: int | None = None) -> MemoryBreakdown:
    """Memory of the heaviest stage: per-GPU figures are the replica's; a stage holds the KV cache of every
    token of the replica for its layers, so `max_tokens_in_kv` is the replica's too."""
    return memory_breakdown(pl.stage, context_len)


def activation_s(pl: Pipeline, tokens: np.ndarray) -> np.ndarray:
    """Sending the hidden states of `tokens` tokens to the next stage: every TP rank sends its copy over
    its own share of the NICs, in parallel."""
    per_gpu = pl.link.bytes_per_s / pl.stage.tp
    return pl.link.latency_s + np.asarray(tokens, dtype=float) * pl.model.hidden * ACT_BYTES / per_gpu


def micro_batch(pp: int, n: np.ndarray) -> np.ndarray:
    """Requests per micro-batch with n in flight: n / pp once every stage has one, else one each."""
    return np.where(n >= pp, n / pp, np.minimum(n, 1.0))


@lru_cache(maxsize=1024)
def pipeline_lengths_model(pl: Pipeline, lengths: tuple[tuple[int, int], ...]) -> IterationModel:
    """The serving model of one pipeline replica per (input, output) class (also a decode pool's, with its
    prefill share taken out: planner.perf.disagg)."""
    c = coefficients(pl.stage)
    arr = np.asarray(lengths, dtype=float).reshape(-1, 2)
    i, o = arr[:, 0], arr[:, 1]
    ctx = i + o / 2.0
    pp = pl.pp

    def step(n: np.ndarray) -> np.ndarray:
        b = micro_batch(pp, n)
        out: np.ndarray = pp * np.asarray(decode_step_s(c, b, ctx)) + (pp - 1) * activation_s(pl, b)
        return out

    # the request's own overhead (tokenising, admission) once, then its prefill through every stage in turn
    alone = c.request_s + pp * np.asarray(prefill_alone_s(c, i), dtype=float) + (pp - 1) * activation_s(pl, i)
    # each micro-batch (virtual engine) has its own scheduler and sequence limit
    limit = np.minimum(kv_admitted(pl.stage, i, o), pp * sequence_limit(pl.stage))

    # an engine that prefills in passes of its own gathers the prompts that arrived since the first stage
    # last scheduled, once per micro-batch: pp scheduling points per iteration
    def pass_prefill(k: np.ndarray) -> np.ndarray:
        return np.asarray(prefill_marginal_s(c, i, k), dtype=float)

    return IterationModel(
        step_s=step,
        prefill_s=np.asarray(prefill_marginal_s(c, i), dtype=float),
        alone_s=alone,
        output_len=o,
        limit=limit,
        wait_share=np.where(o > 1.0, 0.5, 0.0),
        pass_prefill_s=pass_prefill if c.separate_prefill else None,
        pass_max=np.asarray(prompts_per_pass(c, i), dtype=float),
        points_per_iteration=float(pp),
    )


def pipeline_capacity_rps_many(
    pl: Pipeline, lengths: Sequence[tuple[int, int]], ttft_ms: float, tpot_ms: float
) -> list[float]:
    """Largest arrival rate (req/s per replica) meeting both SLOs at the mean, per (input, output)."""
    if not lengths:
        return []
    if not pipeline_memory(pl).fits:
        return [0.0] * len(lengths)
    m = pipeline_lengths_model(pl, tuple((int(i), int(o)) for i, o in lengths))
    return [float(x) for x in capacity(m, ttft_ms * 1e-3, tpot_ms * 1e-3)]


def pipeline_point(pl: Pipeline, input_len: int, output_len: int, rate_rps: float) -> OperatingPoint:
    """Steady state of one request class at `rate_rps` on one pipeline replica."""
    return operating_point(pipeline_lengths_model(pl, ((input_len, output_len),)), rate_rps)


def pipeline_step_s(pl: Pipeline, batch: float, context: float) -> float:
    """One decode iteration (every request in flight advances one token) with `batch` in flight."""
    c = coefficients(pl.stage)
    b = micro_batch(pl.pp, np.asarray([batch], dtype=float))
    return float((pl.pp * np.asarray(decode_step_s(c, b, context)) + (pl.pp - 1) * activation_s(pl, b))[0])
