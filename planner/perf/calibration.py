"""Published measurements (catalog/data/measured-calibration.csv) as estimator scenarios.

Each CSV row is mapped, by explicit tables below, to a catalog model and GPU, a precision, an engine and
the way the number was measured:

- `max_load`: offline, as many requests in flight as the engine admits (trtllm-bench, vLLM throughput);
- `static`: static batching of `batch` requests (TensorRT-LLM v0.6 gptSessionBenchmark, vLLM latency
  benchmark): prefill the whole batch, then decode it together;
- `closed`: a closed loop at fixed concurrency (NVIDIA NIM / AIPerf).

`predict_row` computes the model's value for the row's metric in the row's unit. The mapping choices
that are assumptions (A100 variant, per-GPU normalisation, FP8 KV cache, ShareGPT lengths) are written
next to the tables and in catalog/data/CALIBRATION.md.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from catalog.loader import DATA_DIR
from catalog.types import Catalog, EngineProfile
from planner.perf.deployment import Deployment
from planner.perf.profiles import engine_profile
from planner.perf.roofline import coefficients, static_batch_s
from planner.perf.serving import predict

CSV_PATH = DATA_DIR / "measured-calibration.csv"

Mode = Literal["max_load", "static", "closed"]
Metric = Literal[
    "output_tokens_per_s", "output_tokens_per_s_per_gpu", "ttft_ms", "tpot_ms", "batch_latency_ms", "requests_per_s"
]

MODEL_IDS = {
    "Llama-3.1-8B-Instruct": "llama-3.1-8b",
    "Llama-3.1-8B": "llama-3.1-8b",
    "Llama-3.3-70B-Instruct": "llama-3.3-70b",
    "Llama-3-70B": "llama-3-70b",
    "Llama-2-7B": "llama-2-7b",
    "Llama-2-70B": "llama-2-70b",
    "GPT-J-6B": "gpt-j-6b",
    "Falcon-180B": "falcon-180b",
    "Mixtral-8x7B": "mixtral-8x7b",
}
# "A100 (variant unspecified)" in the TensorRT-LLM v0.6.1 tables: the batch sizes used (e.g. Llama-2-70B
# fp16 at batch 1280 on 4 GPUs) only fit in 80 GB cards, so the SXM4-80GB part is assumed.
GPU_PREFIXES = (
    ("H200", "h200"),
    ("H100", "h100-sxm"),
    ("B200", "b200"),
    ("A100", "a100-80gb"),
)
# Weights and KV dtype per published precision. FP8/FP4 rows are NVIDIA ModelOpt checkpoints (or
# TensorRT-LLM FP8 builds), which quantise the KV cache to FP8 as well.
PRECISIONS = {"FP8": ("fp8", "fp8"), "FP4": ("fp4", "fp8"), "FP16": ("fp16", "fp16"), "BF16": ("bf16", "bf16")}
# ShareGPT rows of the vLLM CI throughput test name no lengths; the mean ShareGPT lengths reported in the
# vLLM paper (Kwon et al., SOSP 2023, Table 1: input 161, output 338 tokens) stand in. The run has only
# 200 prompts, so its time is set by the longest outputs, which a mean cannot capture: these rows are
# shown but not scored.
SHAREGPT_LENGTHS = (161, 338)
SHAREGPT_PROMPTS = 200


@dataclass(frozen=True)
class CalibrationRow:
    """One published measurement, mapped onto the estimator's inputs."""

    line: int  # 1-based data row number in the CSV (header excluded)
    model: str
    gpu: str
    tp: int
    weights: str
    kv: str
    engine: str
    mode: Mode
    batch: int  # static batch size or closed-loop concurrency; 0 = as many as fit
    input_len: int
    output_len: int
    metric: Metric
    value: float
    scored: bool
    note: str
    source: str
    legacy: bool = False  # measured with an old engine release (TensorRT-LLM v0.6.1, 2023)

    @property
    def label(self) -> str:
        load = {"max_load": "max", "static": f"b{self.batch}", "closed": f"c{self.batch}"}[self.mode]
        return (
            f"{self.model} {self.weights} {self.gpu}x{self.tp} {self.engine} {self.input_len}/{self.output_len} {load}"
        )


def _engine(framework: str) -> str:
    f = framework.lower()
    if f.startswith("vllm"):
        return "vllm"
    if f.startswith("sglang"):
        return "sglang"
    # NVIDIA NIM serves these models with a TensorRT-LLM backend
    if "tensorrt" in f or f.startswith("nvidia nim"):
        return "trtllm"
    raise ValueError(f"unknown framework {framework!r}")


def _is_legacy(framework: str) -> bool:
    """TensorRT-LLM v0.5/v0.6 (2023): static batching runtime and its own kernels and overheads."""
    return framework.startswith("TensorRT-LLM v0.")


# Runtime factors of legacy releases are nuisance parameters of the fit: stored in the profile's
# `extra` under this prefix so the accuracy table is reproducible, never used for estimates.
LEGACY_PREFIX = "legacy_"
LEGACY_FACTORS = ("step_overhead_ms", "allreduce_latency_us", "gqa_kv_reload_share", "allreduce_bw_efficiency")


def profile_for_row(row: CalibrationRow, profile: EngineProfile) -> EngineProfile:
    """The profile to predict `row` with: legacy rows swap in the legacy runtime factors."""
    if not row.legacy:
        return profile
    extra = dict(profile.extra)
    overhead = extra.get(LEGACY_PREFIX + "step_overhead_ms", profile.step_overhead_ms)
    for name in LEGACY_FACTORS[1:]:
        if LEGACY_PREFIX + name in extra:
            extra[name] = extra[LEGACY_PREFIX + name]
    return profile.model_copy(update={"step_overhead_ms": overhead, "extra": extra})


def _gpu(name: str) -> str:
    for prefix, gid in GPU_PREFIXES:
        if name.startswith(prefix):
            return gid
    raise ValueError(f"unknown gpu {name!r}")


def _precision(text: str) -> tuple[str, str]:
    key = text.split("/")[0].split(" ")[0].upper()
    return PRECISIONS[key]


def _mode_and_metric(r: dict[str, str]) -> tuple[Mode, int, Metric, bool, str]:
    metric, load, framework = r["metric"], r["batch_or_concurrency"], r["framework"]
    if metric == "output_throughput_total" and load.startswith("max-load"):
        return "max_load", 0, "output_tokens_per_s", True, "offline max load, whole TP group"
    if metric == "output_throughput_total" and load.startswith("concurrency"):
        return "closed", int(load.split()[1]), "output_tokens_per_s", True, "closed loop"
    if metric in ("output_throughput_per_gpu", "output_throughput"):
        # v0.6.1 tables: the H100 table is per GPU; the A100 table's header is ambiguous, but only the
        # per-GPU reading is consistent with the same doc's H100 table and with plausible MFU.
        return "static", int(load), "output_tokens_per_s_per_gpu", True, "static batch, per GPU"
    if metric.startswith("TTFT (1st token"):
        return "static", int(load), "ttft_ms", True, "static batch, prefill latency"
    if metric == "TTFT mean":
        return "closed", int(load.split()[1]), "ttft_ms", True, "closed loop"
    if metric.startswith("ITL"):
        return "closed", int(load.split()[1]), "tpot_ms", True, "closed loop"
    if metric.startswith("end-to-end latency"):
        return "static", int(load.split()[1]), "batch_latency_ms", True, "whole batch, vLLM latency benchmark"
    if metric == "request throughput" and "vllm" in framework.lower():
        return "max_load", SHAREGPT_PROMPTS, "requests_per_s", False, "ShareGPT sample; lengths not given (unscored)"
    raise ValueError(f"unmapped metric {metric!r} at load {load!r}")


def parse_rows(text: str) -> tuple[CalibrationRow, ...]:
    """Map every CSV row; an unmappable row is an error (the tables above must cover the file)."""
    rows = []
    for k, r in enumerate(csv.DictReader(io.StringIO(text)), start=1):
        mode, batch, metric, scored, note = _mode_and_metric(r)
        weights, kv = _precision(r["precision"])
        if metric == "requests_per_s":
            i, o = SHAREGPT_LENGTHS
        else:
            i, o = int(r["input_len"]), int(r["output_len"])
        rows.append(
            CalibrationRow(
                line=k,
                model=MODEL_IDS[r["model"]],
                gpu=_gpu(r["gpu"]),
                tp=int(r["tp"]),
                weights=weights,
                kv=kv,
                engine=_engine(r["framework"]),
                mode=mode,
                batch=batch,
                input_len=i,
                output_len=o,
                metric=metric,
                value=float(r["value"]),
                scored=scored,
                note=note,
                source=r["source"],
                legacy=_is_legacy(r["framework"]),
            )
        )
    return tuple(rows)


def load_rows(path: Path = CSV_PATH) -> tuple[CalibrationRow, ...]:
    return parse_rows(path.read_text(encoding="utf-8"))


def deployment_for(row: CalibrationRow, catalog: Catalog, profile: EngineProfile) -> Deployment:
    """The deployment a row was measured on (legacy rows use the profile's legacy runtime factors)."""
    return Deployment(
        catalog.models[row.model], catalog.gpus[row.gpu], row.tp, row.weights, row.kv, profile_for_row(row, profile)
    )


def predict_row(row: CalibrationRow, dep: Deployment) -> float:
    """The estimator's value for `row`'s metric, in the row's unit."""
    if row.mode == "static":
        c = coefficients(dep)
        pre, total = static_batch_s(c, row.batch, row.input_len, row.output_len)
        if row.metric == "ttft_ms":
            return float(pre) * 1e3
        if row.metric == "batch_latency_ms":
            return float(total) * 1e3
        return row.batch * row.output_len / float(total) / row.tp
    conc: int | Literal["max"] = "max" if row.mode == "max_load" else row.batch
    point = predict(dep, row.input_len, row.output_len, concurrency=conc)
    if row.mode == "max_load" and row.batch and point.concurrency > row.batch:
        point = predict(dep, row.input_len, row.output_len, concurrency=row.batch)
    value = {
        "output_tokens_per_s": point.output_tokens_per_s,
        "requests_per_s": point.requests_per_s,
        "ttft_ms": point.ttft_ms,
        "tpot_ms": point.tpot_ms,
    }[row.metric]
    return float(value)


@dataclass(frozen=True)
class RowResult:
    row: CalibrationRow
    predicted: float

    @property
    def rel_error(self) -> float:
        """(predicted - measured) / measured."""
        return (self.predicted - self.row.value) / self.row.value


def evaluate(
    rows: Iterable[CalibrationRow],
    catalog: Catalog,
    profiles: Mapping[tuple[str, str], EngineProfile] | None = None,
) -> tuple[RowResult, ...]:
    """Predict every row with the profile of its (engine, GPU family): from `profiles` if given, else
    the catalog's (with the fallback rules of `engine_profile`)."""
    out = []
    for row in rows:
        gpu = catalog.gpus[row.gpu]
        profile = (
            profiles[(row.engine, gpu.family)] if profiles is not None else engine_profile(catalog, row.engine, gpu)
        )
        out.append(RowResult(row, predict_row(row, deployment_for(row, catalog, profile))))
    return tuple(out)


def error_summary(results: Sequence[RowResult]) -> dict[str, tuple[int, float, float]]:
    """Per metric (and 'all'): (rows, median, p90) of the absolute relative error, scored rows only."""
    groups: dict[str, list[float]] = {}
    for res in results:
        if not res.row.scored:
            continue
        err = abs(res.rel_error)
        groups.setdefault(res.row.metric, []).append(err)
        groups.setdefault("all", []).append(err)
    return {k: (len(v), _quantile(v, 0.5), _quantile(v, 0.9)) for k, v in sorted(groups.items())}


def _quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (numpy's default), without numpy for clarity."""
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = q * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)
