"""How each engine schedules: continuous batching with chunked prefill, mixed or separate prefill/decode
batches, KV block size, reservation or preemption (the semantics are planner.simulate.engine's module doc).

Split from planner.simulate.engine (issue 18): the policy is a frozen value chosen once per replica group
from the engine's name and profile, read by the engine and by the router; it holds no simulation state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from planner.perf.deployment import SEPARATE_PREFILL_ENGINES
from planner.simulate.timing import EngineLimits

Preemption = Literal["recompute", "swap"]


@dataclass(frozen=True)
class SchedulerPolicy:
    """How one engine schedules (documented engine defaults; see the module doc)."""

    engine: str
    mixed_batches: bool  # prefill chunks ride in the decode iteration
    block_tokens: int  # KV block (page) size in tokens
    reserve_full: bool  # the whole request's KV is reserved at admission; no preemption
    preemption: Preemption
    watermark_share: float  # share of the KV blocks new admissions leave free
    # the scheduler composes each iteration while the one before it runs (SGLang's overlap scheduler): a
    # request that arrives during an iteration is first scheduled in the iteration after the next one
    launch_ahead: bool = False

    @property
    def describe(self) -> str:
        batches = "mixed prefill/decode batches" if self.mixed_batches else "separate prefill and decode batches"
        kv = (
            "KV reserved for the whole request at admission"
            if self.reserve_full
            else f"KV blocks allocated as sequences grow, preemption by {self.preemption}"
        )
        return f"{self.engine}: chunked prefill, {batches}, {self.block_tokens}-token KV blocks, {kv}"


# Engine defaults (KV block tokens, watermark share): vLLM V1 (16-token blocks, 1% watermark, recompute),
# SGLang (token-granular pages, retraction = recompute), TensorRT-LLM (inflight batching with chunked
# context, 64-token blocks). Whether prefills ride the decode batch is the serving model's
# SEPARATE_PREFILL_ENGINES (SGLang's prefill batches are separate unless --enable-mixed-chunk).
_POLICIES: dict[str, tuple[int, float]] = {
    "vllm": (16, 0.01),
    "sglang": (1, 0.0),
    "trtllm": (64, 0.0),
}


def scheduler_policy(engine: str, limits: EngineLimits, preemption: Preemption | None = None) -> SchedulerPolicy:
    """The scheduling semantics of `engine`; whether KV is reserved comes from the engine profile."""
    block, watermark = _POLICIES.get(engine, _POLICIES["vllm"])
    reserve = limits.kv_reserve_output_fraction >= 1.0
    return SchedulerPolicy(
        engine=engine,
        mixed_batches=engine not in SEPARATE_PREFILL_ENGINES,
        block_tokens=block,
        reserve_full=reserve,
        preemption=preemption or "recompute",
        watermark_share=watermark,
        launch_ahead=limits.overlap_schedule,
    )
