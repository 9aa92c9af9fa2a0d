"""Systems that ran one benchmark on one dataset whose prompt lengths the source does not give: their
throughputs cannot be scored one by one, but their ratios can.

MLPerf Inference v5.0's Llama-2-70B Offline scenario (measured-calibration-2.csv, source K) was run by AMD
and ASUSTeK on 8 x MI325X with vLLM and by NVIDIA on 8 x H100 and 8 x H200 with TensorRT-LLM, every system
on the same OpenOrca samples. The file gives each system's output tokens/s and AMD's samples/s, so the
mean output length is known (tokens / samples); the mean prompt length is not. At max load every system is
compute-bound on the same prompt and output tokens, so the estimator's per-GPU throughput of one system
over another's barely moves with the prompt length: the ratio can be checked against the measured one at
every length in `PROMPT_LENS_TOKENS` without choosing one.

Parallelism the source does not state (NVIDIA's rows) is the layout the estimator finds fastest per GPU
among TP 1/2/4/8 at each prompt length: a submission is tuned for throughput. Weight and KV precisions
are the file's (FP8 weights; the KV dtype is not restated, so the engine's default, 16-bit).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace

from catalog.loader import DATA_DIR
from catalog.types import Catalog
from planner.errors import InfeasibleError
from planner.perf.calibration import deployment_for
from planner.perf.measured import FILES, MeasuredRow, parse
from planner.perf.profiles import ENGINES, engine_profile
from planner.perf.serving import predict

SOURCE = "mlperf-v5.0"
MODEL = "llama-2-70b"
PROMPT_LENS_TOKENS = (64, 128, 256, 512, 1024, 2048)
TP_CHOICES = (1, 2, 4, 8)


@dataclass(frozen=True)
class SystemRun:
    """One system's offline run: measured and estimated output tokens/s per GPU."""

    row: MeasuredRow
    gpus: int  # GPUs of the whole system the measured figure covers
    tp_stated: bool  # the source states the replica's TP (else the fastest of TP_CHOICES per GPU)
    measured_per_gpu: float
    estimated_per_gpu: tuple[float, ...]  # at each of PROMPT_LENS_TOKENS
    tp_used: tuple[int, ...]  # the replica's TP at each prompt length


@dataclass(frozen=True)
class RatioCheck:
    """Every system against the reference system of the same dataset."""

    output_len_tokens: float
    prompt_lens_tokens: tuple[int, ...]
    reference: SystemRun
    systems: tuple[SystemRun, ...]

    def measured_ratio(self, s: SystemRun) -> float:
        return s.measured_per_gpu / self.reference.measured_per_gpu

    def estimated_ratios(self, s: SystemRun) -> tuple[float, ...]:
        """The estimator's per-GPU ratio to the reference at each prompt length."""
        return tuple(e / r for e, r in zip(s.estimated_per_gpu, self.reference.estimated_per_gpu, strict=True))


def _per_gpu(catalog: Catalog, row: MeasuredRow, tps: Sequence[int], lengths: tuple[int, int]) -> tuple[float, int]:
    """(best estimated output tokens/s per GPU, its TP) among `tps` at max load, for (input, output)."""
    profile = engine_profile(catalog, row.engine, catalog.gpus[row.gpu])
    best = (0.0, tps[0])
    for tp in tps:
        try:
            point = predict(deployment_for(replace(row, tp=tp), catalog, profile), *lengths, concurrency="max")
        except InfeasibleError:  # the model does not fit this many GPUs
            continue
        if point.output_tokens_per_s / tp > best[0]:
            best = (point.output_tokens_per_s / tp, tp)
    return best


def mlperf_llama2_offline(catalog: Catalog, reference_gpu: str = "h100-sxm") -> RatioCheck:
    """The MLPerf v5.0 Llama-2-70B Offline systems gpuplan models, against the `reference_gpu` system."""
    # the file read once: its rows as the estimator's scenarios, and the columns they do not keep
    text = (DATA_DIR / FILES[1]).read_text(encoding="utf-8")
    raw = dict(enumerate(csv.DictReader(io.StringIO(text)), start=1))
    rows = [
        r
        for r in parse(text, FILES[1])
        if r.source == SOURCE
        and r.model == MODEL
        and r.engine in ENGINES
        and "Offline" in raw[r.line]["batch_or_concurrency"]
    ]
    totals = [r for r in rows if raw[r.line]["metric"] == "output_throughput_total"]
    samples = [r for r in rows if raw[r.line]["metric"] == "samples_per_s"]
    if not samples:
        raise ValueError("no MLPerf Llama-2-70B Offline samples/s row: the output length is unknown")
    # tokens / samples of the one system that reports both (the same model's outputs on the same samples)
    pair = next(t for t in totals if raw[t.line]["source_url"] == raw[samples[0].line]["source_url"])
    output_len = pair.value / samples[0].value
    runs = []
    for r in totals:
        gpus = int(raw[r.line]["gpu_count"])
        stated = raw[r.line]["tp"].strip().isdigit()
        tps = (r.tp,) if stated else TP_CHOICES
        best = [_per_gpu(catalog, r, tps, (n, round(output_len))) for n in PROMPT_LENS_TOKENS]
        runs.append(
            SystemRun(
                row=r,
                gpus=gpus,
                tp_stated=stated,
                measured_per_gpu=r.value / gpus,
                estimated_per_gpu=tuple(b[0] for b in best),
                tp_used=tuple(b[1] for b in best),
            )
        )
    reference = next(s for s in runs if s.row.gpu == reference_gpu)
    return RatioCheck(output_len, PROMPT_LENS_TOKENS, reference, tuple(s for s in runs if s is not reference))
