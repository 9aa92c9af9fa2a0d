"""Disaggregated serving: prefill on one pool of replicas, decode on another, the KV cache sent between.

A request is prefilled on a prefill replica (which produces its first token), its KV cache is sent over
the network to a decode replica, and the decode replica generates the rest. Each pool is a replica
configuration of its own (GPU type, offering, TP, precision), joined by a link (planner.perf.network):

    KV bytes(I)  = I x KV elements per token x dtype bytes        (the model's KV of the prompt, once)
    transfer(I)  = link latency + KV bytes(I) / link bytes/s     (not overlapped with the prefill)

Prefill replica (no decode steps to share the GPUs with): prompts are batched up to the engine's token
budget; D(I) = one batched pass / prompts in it is the service time per prompt, rho = lambda D, and an
arriving prompt waits M/D/1-style behind the others:

    TTFT = prefill_alone(I) + rho D / (2 (1 - rho)) + transfer(I)      (queueing + prefill + transfer)

A prompt holds its KV on the prefill replica from its prefill until the transfer ends, so
lambda (prefill_alone + transfer) prompts of I tokens must fit its KV cache; and the replica's NICs
carry lambda x KV bytes(I) (same on the decode side).

Decode replica (no prefills): requests arrive with their cache; N in flight decode at one token per
iteration, N = lambda (O - 1) TPOT, TPOT = t_decode(N) at the mean context I + O/2 (the serving model of
planner.perf.iteration with no prefill share), within the KV cache (I + O tokens reserved as the engine
admits them) and the TPOT target. TTFT does not involve the decode pool (the first token came from the
prefill), so the decode capacity is TPOT- and memory-bound only.

Either pool may be a pipeline replica (planner.perf.pipeline: `pp` stages of tp GPUs, one instance each),
for a model no single instance holds. Its stages hold their layers' share of every request's KV cache:

    prefill alone(I) = pp x stage prefill(I) + (pp - 1) x activation(I)    (stages one after another)
    D(I)             = one stage's batched pass / prompts in it          (the stages work on different
                                                                          prompts at once: the heaviest
                                                                          stage sets the pace)
    decode t(N)      = pp x stage step(N / pp) + (pp - 1) x activation    (the pipeline's decode iteration,
                                                                          bubble included)
    transfer(I)      = latency + KV bytes(I) / (every GPU of every stage sending its own shard)

so the KV path of a pipeline pool is the NIC share of all its tp x pp GPUs
(planner.capacity.disaggregated.pool_links), and its memory is the heaviest stage's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from catalog.types import DTYPE_BYTES, ModelArch
from planner.perf.deployment import Deployment
from planner.perf.iteration import IterationModel, OperatingPoint, capacity, operating_point
from planner.perf.memory import kv_admitted, memory_breakdown, sequence_limit
from planner.perf.network import Link
from planner.perf.pipeline import Pipeline, activation_s, pipeline_lengths_model, pipeline_memory
from planner.perf.roofline import batch_prefill_s, coefficients, decode_step_s, prefill_alone_s, prompts_per_pass

Server = Deployment | Pipeline
"""One replica of a pool: tp GPUs of one instance (a Deployment), or pipeline stages on several."""


def _whole(server: Server) -> Deployment:
    """The deployment whose model, KV format and context the pool serves (a pipeline's whole model)."""
    return server.whole if isinstance(server, Pipeline) else server


def kv_bytes_per_token(model: ModelArch, kv: str) -> float:
    """Bytes of KV cache one token has over all layers (MLA: the compressed latent), stored once."""
    return model.kv_elements_per_token() * DTYPE_BYTES[kv]


def kv_transfer_s(model: ModelArch, kv: str, input_len: np.ndarray | float, link: Link) -> np.ndarray:
    """Seconds to send a prompt's KV cache (`input_len` tokens, a sliding window caps it) over `link`."""
    i = np.asarray(input_len, dtype=float)
    if model.sliding_window:
        i = np.minimum(i, float(model.sliding_window))
    return link.latency_s + i * kv_bytes_per_token(model, kv) / link.bytes_per_s


# ------------------------------------------------------------------------------------------ prefill
@dataclass(frozen=True)
class PrefillPoint:
    """A prefill replica at one rate (seconds; `ttft_s` includes the KV transfer)."""

    ttft_s: float
    prefill_s: float  # a lone prompt's prefill
    queue_s: float
    transfer_s: float
    utilisation: float  # rho
    saturated: bool


def _prefill_parts(server: Server, i: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lone prefill s, service time per prompt D s, prompts the KV cache holds) per input length."""
    stage = server.stage if isinstance(server, Pipeline) else server
    c = coefficients(stage)
    own = np.asarray(prefill_alone_s(c, i), dtype=float)  # one stage's (or the replica's) lone prefill
    through = own
    if isinstance(server, Pipeline):
        through = server.pp * own + (server.pp - 1) * activation_s(server, i)
    alone = c.request_s + through  # the request's own overhead first
    per_pass = prompts_per_pass(c, i)
    service = np.asarray(batch_prefill_s(c, per_pass, i), dtype=float) / per_pass
    service = np.minimum(service, own)
    mem = pipeline_memory(server) if isinstance(server, Pipeline) else memory_breakdown(server)
    held = np.where(mem.fits, np.floor(mem.max_tokens_in_kv / np.maximum(i, 1.0)), 0.0)
    return alone, service, held


def prefill_capacity_rps_many(
    server: Server,
    input_lens: Sequence[int],
    ttft_ms: float,
    link: Link,
    nic_bytes_per_s: float,
) -> list[float]:
    """Largest arrival rate (req/s per prefill replica) whose TTFT, the KV transfer over `link` included,
    meets the target, per input length; also bounded by the KV cache and the replica's NIC share."""
    if not input_lens:
        return []
    dep = _whole(server)
    i = np.asarray(input_lens, dtype=float)
    alone, service, held = _prefill_parts(server, i)
    transfer = kv_transfer_s(dep.model, dep.kv, i, link)
    budget = ttft_ms * 1e-3 - alone - transfer
    # rho D / (2 (1 - rho)) <= budget  <=>  rho <= 2 budget / (D + 2 budget)
    rho = np.where(budget > 0.0, 2.0 * budget / (service + 2.0 * np.maximum(budget, 0.0)), 0.0)
    lam = np.minimum(rho, 1.0 - 1e-9) / service
    lam = np.minimum(lam, held / (alone + transfer))
    nic = nic_bytes_per_s / np.maximum(i * kv_bytes_per_token(dep.model, dep.kv), 1.0)
    lam = np.minimum(lam, nic)
    within = i <= dep.context_window
    return [float(x) for x in np.where((budget > 0.0) & (held >= 1.0) & within, lam, 0.0)]


def prefill_point(server: Server, input_len: int, rate_rps: float, link: Link) -> PrefillPoint:
    """A prefill replica `server` receiving `rate_rps` prompts of `input_len` tokens."""
    dep = _whole(server)
    i = np.asarray([float(input_len)])
    alone, service, _held = _prefill_parts(server, i)
    transfer = float(kv_transfer_s(dep.model, dep.kv, i, link)[0])
    rho = rate_rps * float(service[0])
    if rho >= 1.0:
        return PrefillPoint(math.inf, float(alone[0]), math.inf, transfer, rho, True)
    queue = rho * float(service[0]) / (2.0 * (1.0 - rho))
    return PrefillPoint(float(alone[0]) + queue + transfer, float(alone[0]), queue, transfer, rho, False)


# ------------------------------------------------------------------------------------------- decode
def _decode_model(dep: Deployment, lengths: tuple[tuple[int, int], ...]) -> IterationModel:
    c = coefficients(dep)
    arr = np.asarray(lengths, dtype=float).reshape(-1, 2)
    i, o = arr[:, 0], arr[:, 1]
    ctx = i + o / 2.0
    limit = np.minimum(kv_admitted(dep, i, o), sequence_limit(dep))

    def step(n: np.ndarray) -> np.ndarray:
        return np.asarray(decode_step_s(c, n, ctx), dtype=float)

    zeros = np.zeros_like(i)
    return IterationModel(step_s=step, prefill_s=zeros, alone_s=zeros, output_len=o, limit=limit, wait_share=zeros)


def _decode_server_model(server: Server, lengths: tuple[tuple[int, int], ...]) -> IterationModel:
    """Decode-only serving model: a pipeline's own (bubble, stage memory, a sequence limit per micro-batch)
    with no prefill share, or a single-instance replica's."""
    if not isinstance(server, Pipeline):
        return _decode_model(server, lengths)
    m = pipeline_lengths_model(server, lengths)
    zeros = np.zeros_like(m.output_len)
    return replace(m, prefill_s=zeros, alone_s=zeros, wait_share=zeros)


def decode_capacity_rps_many(
    server: Server, lengths: Sequence[tuple[int, int]], tpot_ms: float, nic_bytes_per_s: float
) -> list[float]:
    """Largest arrival rate (req/s per decode replica) meeting the TPOT target per (input, output), within
    its KV cache and its NIC share (incoming KV caches). 0 for single-token requests: nothing to decode."""
    if not lengths:
        return []
    dep = _whole(server)
    key = tuple((int(a), int(b)) for a, b in lengths)
    m = _decode_server_model(server, key)
    lam = capacity(m, math.inf, tpot_ms * 1e-3)
    i = np.asarray([a for a, _ in key], dtype=float)
    nic = nic_bytes_per_s / np.maximum(i * kv_bytes_per_token(dep.model, dep.kv), 1.0)
    lam = np.where(m.output_len > 1.0, np.minimum(lam, nic), 0.0)
    return [float(x) for x in lam]


def decode_point(server: Server, input_len: int, output_len: int, rate_rps: float) -> OperatingPoint:
    """A decode replica `server` receiving `rate_rps` requests of these lengths (its TPOT, in flight)."""
    return operating_point(_decode_server_model(server, ((input_len, output_len),)), rate_rps)
