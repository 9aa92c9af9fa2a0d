"""The one place the simulator asks the estimator (planner/perf) how long an engine iteration takes.

Every latency of a simulated iteration comes from the estimator's own functions, so the simulator and
the planner share one performance model. When the estimator renames or reshapes them, only this module
changes. What is used:

    decode step      roofline.decode_step_s(coeffs, batch, mean context)
    prefill work     roofline.prefill_work_s(coeffs, tokens): prompt compute + all-reduce payload in a pass
                     paid for anyway; a chunk of n tokens after p already-computed ones costs F(p + n) - F(p)
    lone prefill     roofline.prefill_alone_s(coeffs, tokens): a prefill on an idle replica, which also pays
                     the weight read and the per-pass overhead that decode steps otherwise pay
    KV capacity      memory.memory_breakdown(dep).max_tokens_in_kv and the engine's scheduler limits

These are the pieces of the estimator's own per-iteration functions for a simulator,
`roofline.decode_step_time_s(dep, batch, context)` and `roofline.prefill_chunk_time_s(dep, tokens, context)`
(scalar, one call each): a prefill-only iteration here equals `prefill_chunk_time_s`, a decode step equals
`decode_step_time_s` (tests/test_simulate_engine.py checks both). The vectorised pieces are used because
the decode table evaluates a whole row of contexts at once and a mixed iteration needs the prefill's work
apart from the weight read that the decode step already pays.

An iteration is costed the way the serving model composes these pieces:

    decode_step(N, mean context) + sum of the chunks' prefill work          (N >= 1 decoding sequences)
    (lone prefill - prefill work)(first chunk) + sum of the chunks' work     (a prefill-only iteration)

Decode steps are looked up in a per-batch table of the estimator over context (GRID_TOKENS apart) and
interpolated linearly; the estimator is piecewise affine in context, so the table is exact except within
one cell of a kink. A stretch of k decode steps whose mean context rises by one token per step costs
k x step(N, mean context at its midpoint), exact for a function affine over the stretch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from planner.perf.deployment import Deployment
from planner.perf.memory import kv_bytes_per_token_per_gpu, memory_breakdown, overlap_schedule, sequence_limit
from planner.perf.pipeline import Pipeline, activation_s, micro_batch, pipeline_memory
from planner.perf.roofline import coefficients, decode_step_s, prefill_alone_s, prefill_work_s

GRID_TOKENS = 32  # context spacing of the decode-step table


@dataclass(frozen=True)
class EngineLimits:
    """What the estimator's engine profile says about the scheduler of one replica."""

    max_batched_tokens: int  # token budget of one iteration (chunked prefill splits prompts to fit)
    max_seqs: int  # most sequences running at once
    kv_tokens: int  # tokens the KV cache of the replica holds (memory model)
    kv_reserve_output_fraction: float  # >= 1: reserve the whole request at admission (no preemption)
    kv_bytes_per_token_per_gpu: float
    host_link_bytes_per_s: float  # per GPU, for swapping KV to host memory
    window_tokens: int | None  # sliding window: KV a sequence keeps at most
    overlap_schedule: bool = False  # the scheduler composes each iteration while the one before runs


def engine_limits(dep: Deployment) -> EngineLimits:
    """Scheduler limits and KV capacity of one replica, as the estimator's memory model computes them."""
    mem = memory_breakdown(dep)
    return EngineLimits(
        max_batched_tokens=max(1, int(dep.factor("max_num_batched_tokens"))),
        max_seqs=max(1, int(sequence_limit(dep))),
        kv_tokens=int(mem.max_tokens_in_kv),
        kv_reserve_output_fraction=dep.factor("kv_reserve_output_fraction"),
        kv_bytes_per_token_per_gpu=kv_bytes_per_token_per_gpu(dep.model, dep.kv, dep.tp, dep.dp_attention),
        host_link_bytes_per_s=dep.gpu.pcie_gb_per_s * 1e9,
        window_tokens=dep.model.sliding_window or None,
        overlap_schedule=overlap_schedule(dep),
    )


def pipeline_engine_limits(pl: Pipeline) -> EngineLimits:
    """Scheduler limits of a pipeline replica, as planner.perf.pipeline models it: the KV cache of its
    heaviest stage (which holds every token of the replica for its layers), and `pp` virtual engines (one
    micro-batch each, with its own sequence limit and token budget) seen as one scheduler of pp times their
    limits. Swapping moves one stage's share of a token's KV per GPU."""
    stage = pl.stage
    mem = pipeline_memory(pl)
    return EngineLimits(
        max_batched_tokens=pl.pp * max(1, int(stage.factor("max_num_batched_tokens"))),
        max_seqs=pl.pp * max(1, int(sequence_limit(stage))),
        kv_tokens=int(mem.max_tokens_in_kv),
        kv_reserve_output_fraction=stage.factor("kv_reserve_output_fraction"),
        kv_bytes_per_token_per_gpu=kv_bytes_per_token_per_gpu(stage.model, stage.kv, stage.tp, stage.dp_attention),
        host_link_bytes_per_s=stage.gpu.pcie_gb_per_s * 1e9,
        window_tokens=stage.model.sliding_window or None,
    )


class IterationTimes:
    """Fast scalar iteration latencies of one deployment, all taken from the estimator (module doc).

    Not thread-safe (tables fill lazily); one instance per simulated replica group.
    """

    def __init__(self, dep: Deployment, max_context_tokens: int) -> None:
        self._c = coefficients(dep)
        self._cells = max(2, math.ceil(max(max_context_tokens, 1) / GRID_TOKENS) + 2)
        self._ctx_grid = np.arange(self._cells + 1, dtype=float) * GRID_TOKENS
        self._rows: dict[int, list[float]] = {}
        self._works: dict[int, float] = {0: 0.0}
        self._base: dict[int, float] = {}

    # -------------------------------------------------------------- decode

    def _row(self, batch: int) -> list[float]:
        row = self._rows.get(batch)
        if row is None:
            row = [float(x) for x in self._decode_row(batch)]
            self._rows[batch] = row
        return row

    def _decode_row(self, batch: int) -> npt.NDArray[np.float64]:
        """The estimator's decode step of `batch` sequences at every context of the grid."""
        return np.asarray(decode_step_s(self._c, float(batch), self._ctx_grid), dtype=float)

    def _work(self, tokens: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Prefill work of prompts of `tokens` tokens in a pass paid for anyway (see the module doc). Not the
        serving model's marginal prefill, which for an engine that prefills in passes of its own includes
        a share of the pass: here the iteration pays the pass once (`idle_base_s`), however many prompts
        it gathers."""
        return np.asarray(prefill_work_s(self._c, tokens), dtype=float)

    def _alone(self, tokens: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """A lone prefill of `tokens` tokens on an idle replica."""
        return np.asarray(prefill_alone_s(self._c, tokens), dtype=float)

    def decode_step_s(self, batch: int, mean_context: float) -> float:
        """One decode step of `batch` sequences holding `mean_context` tokens of KV each on average."""
        row = self._row(batch)
        x = mean_context / GRID_TOKENS
        if x <= 0.0:
            return row[0]
        j = int(x)
        if j >= self._cells:  # beyond the table (a longer context than announced): extrapolate the last cell
            j = self._cells - 1
        f = x - j
        return row[j] + (row[j + 1] - row[j]) * f

    def decode_stretch_s(self, batch: int, mean_context: float, steps: int) -> float:
        """`steps` decode steps of a fixed batch whose mean context starts at `mean_context` and rises by one
        token per step (midpoint rule; see the module doc)."""
        if steps <= 0:
            return 0.0
        return steps * self.decode_step_s(batch, mean_context + 0.5 * (steps - 1))

    # -------------------------------------------------------------- prefill

    def prime(self, prompt_tokens: npt.NDArray[np.int64]) -> None:
        """Evaluate the prefill functions for many prompt lengths at once (one vectorised call each)."""
        todo = np.unique(np.asarray(prompt_tokens, dtype=np.int64))
        todo = todo[todo > 0]
        if todo.size == 0:
            return
        x = todo.astype(float)
        work = self._work(x)
        alone = self._alone(x)
        for n, w, a in zip(todo.tolist(), work.tolist(), alone.tolist(), strict=True):
            self._works.setdefault(n, w)
            self._base.setdefault(n, max(a - w, 0.0))

    def _cum_work(self, tokens: int) -> float:
        w = self._works.get(tokens)
        if w is None:
            w = float(self._work(np.asarray([float(tokens)]))[0])
            self._works[tokens] = w
        return w

    def prefill_chunk_s(self, tokens: int, context_before: int) -> float:
        """Prefill work of `tokens` prompt tokens after `context_before` already computed, on a busy replica."""
        return self._cum_work(context_before + tokens) - self._cum_work(context_before)

    def idle_base_s(self, tokens: int) -> float:
        """What a prefill-only iteration pays beyond its chunks' work: the weight read and the pass overhead
        that a lone prefill of `tokens` tokens pays (and a decode step otherwise covers)."""
        b = self._base.get(tokens)
        if b is None:
            alone = float(self._alone(np.asarray([float(tokens)]))[0])
            b = max(alone - self._cum_work(tokens), 0.0)
            self._base[tokens] = b
        return b

    def lone_prefill_s(self, tokens: int) -> float:
        """Latency of one prompt prefilled alone on an idle replica (within one token budget)."""
        return self.idle_base_s(tokens) + self._cum_work(tokens)

    def busy_base_s(self, tokens: int) -> float:
        """What a prefill-only iteration whose first chunk has `tokens` tokens takes from the decoding
        requests' time beyond its chunks' work (one GPU group: the whole pass, `idle_base_s`)."""
        return self.idle_base_s(tokens)

    def first_token_lag_s(self, tokens: int) -> float:
        """How long after such a busy pass ends its prompts' first tokens come out (0: when it ends)."""
        return 0.0


class PipelineIterationTimes(IterationTimes):
    """Iteration latencies of a pipeline replica (`pp` stages of tp GPUs, one instance each), from the
    estimator's pipeline model (planner.perf.pipeline), in its steady state: the engine keeps `pp`
    micro-batches in flight, and one simulated iteration is one pass of every request in flight through all
    stages (each decoding request advances one token):

        decode step(N)   pp x stage_step(b) + (pp - 1) x activation(b),  b = N / pp (one per micro-batch while
                         N < pp: the bubble, so a lone request pays every stage in turn)
        prefill work(n)  the stage's prefill work of n tokens (each stage spends it once, in parallel)
        lone prefill(n)  pp x stage's lone prefill(n) + (pp - 1) x activation(n)   (stages one after another)
        busy pass(n)     the stage's lone prefill(n): a prefill pass of its own (SGLang) while requests decode
                         is one more micro-batch, which each stage runs once while the others keep the
                         decoding micro-batches moving; its prompts' first tokens come out when it has
                         gone through the other stages, (pp - 1) x (stage's lone prefill + activation) later

    The fill and drain of the pipeline between busy and idle periods are not modelled beyond that (the
    estimator's steady state)."""

    def __init__(self, pl: Pipeline, max_context_tokens: int) -> None:
        super().__init__(pl.stage, max_context_tokens)
        self._pl = pl
        self._stage = IterationTimes(pl.stage, max_context_tokens)  # one stage as a replica of its own

    def busy_base_s(self, tokens: int) -> float:
        return self._stage.idle_base_s(tokens)

    def first_token_lag_s(self, tokens: int) -> float:
        return max(self.lone_prefill_s(tokens) - self._stage.lone_prefill_s(tokens), 0.0)

    def _decode_row(self, batch: int) -> npt.NDArray[np.float64]:
        pl = self._pl
        b = micro_batch(pl.pp, np.asarray([float(batch)]))
        step = np.asarray(decode_step_s(self._c, b, self._ctx_grid), dtype=float)
        return np.asarray(pl.pp * step + (pl.pp - 1) * activation_s(pl, b), dtype=float)

    def _alone(self, tokens: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        pl = self._pl
        alone = np.asarray(prefill_alone_s(self._c, tokens), dtype=float)
        return np.asarray(pl.pp * alone + (pl.pp - 1) * activation_s(pl, tokens), dtype=float)
