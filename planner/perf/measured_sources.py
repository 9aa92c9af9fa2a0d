"""The publications behind catalog/data/measured-calibration*.csv: a short id per source, and what each
source's rows of file 2 need (lengths the source leaves to a known sample, reasons a row is not scored).

One rule a source, called with the CSV row, the MeasuredRow fields built so far and the reasons list;
planner.perf.measured applies them. Each rule's comment or reason says where its fact comes from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# ---------------------------------------------------------------------------------------------------
# Sources: a short id per publication, matched on the `source` column.
SOURCES: tuple[tuple[str, str], ...] = (
    ("docs/source/performance/perf-overview.md", "trtllm-perf-v1.0"),
    ("docs/source/performance.md", "trtllm-perf-v0.6.1"),
    ("buildkite.com/vllm/performance-benchmark", "vllm-ci-9515"),
    ("docs.nvidia.com/nim", "nim-1.8"),
    ("benchmark/benchmark_vllm_060", "sglang-vs-vllm-0.6"),
    ("benchmark/benchmark_dsv3", "sglang-dsv3-h200"),
    ("datacrunch-research/h200-benchmarks", "datacrunch-h200"),
    ("large-scale-ep", "lmsys-large-ep"),
    ("vllm-serving-amd", "vllm-blog-mi300x"),
    ("vllm-optimize", "rocm-blog-vllm"),
    ("fp8-kvcache", "vllm-blog-fp8-kv"),
    ("QwenLM/Qwen2.5 docs/source/benchmark/speed_benchmark.rst @ commit a912d2", "qwen2.5-speed"),
    ("QwenLM/Qwen2.5 docs/source/benchmark/speed_benchmark.rst @ commit 4da996", "qwen2-speed"),
    ("InternLM/lmdeploy", "lmdeploy-a100"),
    ("MLPerf Inference v5.0", "mlperf-v5.0"),
    ("mlc-ai/llm-perf-bench", "mlc-perf-bench"),
    ("InferenceX", "inferencex-870"),
    ("large-scale-serving", "vllm-blog-wide-ep"),
)


def source_id(text: str) -> str:
    for needle, sid in SOURCES:
        if needle in text:
            return sid
    raise ValueError(f"unknown source {text[:80]!r}")


# sglang.bench_serving's ShareGPT sample is seeded: the datacrunch JSON records give its mean lengths
# for 1200 and 2400 prompts (Llama-3 tokenizer), which the SGLang benchmark README's runs share.
SHAREGPT_SGLANG = {1200: (224.2, 189.1), 2400: (225.3, 192.4), 2000: (224.1, 191.5)}
SHAREGPT_INPUT_MEAN = 224.5  # mean of the three samples above, for runs whose output mean is derived

Why = str


def stated_length(text: str) -> float | None:
    """The mean (or the single) length a cell states ("mean 224.5", "random ~1024", "128"), else None."""
    m = re.search(r"mean ([\d.]+)", text) or re.match(r"(?:random )?~?(\d+(?:\.\d+)?)", text)
    return float(m.group(1)) if m else None


Rule = Callable[[dict[str, str], dict[str, Any], list[Why]], None]


def _sharegpt(fields: dict[str, Any], r: dict[str, str], reasons: list[Why]) -> None:
    """ShareGPT rows without stated lengths: the seeded sglang.bench_serving sample's mean lengths. A median
    end-to-end latency over ShareGPT is not scored whether or not the run's mean lengths are stated: the
    output lengths are skewed (the median request is far shorter than the mean one) and their
    distribution is not given."""
    if "ShareGPT" not in r["input_len"]:
        return
    if fields["metric"] == "e2e_ms" and fields["stat"] != "mean":
        reasons.append("median end-to-end latency over ShareGPT's skewed lengths, whose distribution is not given")
    if stated_length(r["input_len"]) is not None and "mean" in r["input_len"]:
        return
    n = int(fields["prompts"])
    if n in SHAREGPT_SGLANG:
        fields["input_len"], fields["output_len"] = SHAREGPT_SGLANG[n]


# SGLang 0.3.0 to 0.4.x captured decode CUDA graphs for batches [1, 2, 4] + [8, 16, ..., 160] on any GPU of
# 25 GB or more (the released wheels: sglang 0.3.0 model_runner.init_cuda_graphs, sglang 0.4.0
# server_args.cuda_graph_max_bs = 160); larger decode batches ran eager.
SGLANG_04_CUDA_GRAPH_MAX_BATCH = 160


def _rule_sglang_vs_vllm(r: dict[str, str], f: dict[str, Any], reasons: list[Why]) -> None:
    _sharegpt(f, r, reasons)
    if f["engine"] == "sglang":
        f["cuda_graph_max_batch"] = SGLANG_04_CUDA_GRAPH_MAX_BATCH  # SGLang 0.3.0
        f["overlap_schedule"] = False  # SGLang 0.3.0 has no overlap scheduler (added, on by default, in 0.4)
    if f["engine"] == "vllm":
        f["max_seqs"] = 256  # vLLM 0.6 default
        f["scheduler_steps"] = 10
        if f["metric"] == "itl_ms":
            reasons.append("vLLM multi-step scheduling (10 steps): ITL is measured per 10-token burst")
    if "mem-frac 0.88" in r["notes"] and f["engine"] == "sglang":
        f["gpu_memory_utilization"] = 0.88


def _rule_datacrunch(r: dict[str, str], f: dict[str, Any], reasons: list[Why]) -> None:
    _sharegpt(f, r, reasons)
    f["cuda_graph_max_batch"] = SGLANG_04_CUDA_GRAPH_MAX_BATCH  # SGLang dev image of December 2024 (0.4)
    if r["model"].startswith("deepseek"):
        reasons.append("checkpoint ambiguous (two launch commands in the source)")
    # the source marks the random-length sweeps' top rates as past saturation
    saturated = (r["model"] == "llama-3.3-70b" and f["rate_rps"] == 16.0) or (
        r["model"] == "llama-3.1-405b" and f["rate_rps"] == 8.0 and "random" in r["input_len"]
    )
    if saturated:
        f["saturated"] = True
        if f["metric"] in ("ttft_ms", "e2e_ms"):
            reasons.append("past saturation: queueing time grows with the run's length")


def _rule_dsv3(r: dict[str, str], f: dict[str, Any], reasons: list[Why]) -> None:
    f["weights"] = "fp8"  # the 'BF16' label is the shipped FP8 block checkpoint (BF16 weights do not fit)
    f["kv"] = "fp8" if "kv-cache-dtype fp8" in r["notes"] else "bf16"
    f["dp_attention"] = "enable-dp-attention" in r["notes"]
    # the source: "TPOTs of 140-680 ms reflect an early, unoptimised DeepSeek path" (SGLang 0.4.1, Dec
    # 2024): its fused-MoE Triton kernel is vLLM's (the file's header: "Adapted from" vLLM's fused_moe.py)
    # and its wheel ships no tuned tile configs, so it runs the default tiles, like vLLM 0.4.2's Qwen2-MoE
    # rows: both get the one early-release factor, fitted on both (nuisance)
    f["early_moe"] = True
    # SGLang 0.4.1 runs DP attention without CUDA graphs: the launches with and without
    # --disable-cuda-graph report the same TPOTs
    f["eager"] = True
    # SGLang 0.4 turned its overlap scheduler off under DP attention (server_args.__post_init__ in the 0.4.0
    # wheel: "Overlap scheduler is disabled")
    if f["dp_attention"]:
        f["overlap_schedule"] = False
    if f["tp"] == 16:
        f["nodes"] = 2
        f["saturated"] = True  # served 271 tok/s against 1 req/s x 1024 offered
        if f["metric"] in ("ttft_ms",):
            reasons.append("past saturation: queueing time grows with the run's length")


def _rule_large_ep(r: dict[str, str], f: dict[str, Any], reasons: list[Why]) -> None:
    f["weights"], f["kv"] = "fp8", "bf16"
    f["dp_attention"] = True
    if r["metric"].startswith("prefill"):
        f.update(tp=32, ep=32, nodes=4, mode="max_load", metric="prefill_tokens_per_s_per_gpu", output_len=1.0)
        f["value"] = float(f["value"]) / 8.0  # per 8-GPU node -> per GPU
    else:
        f.update(tp=72, ep=72, nodes=9, mode="closed", batch=256 * 72, metric="decode_tokens_per_s_per_gpu")
        f["input_len"], f["output_len"] = 2000.0, 1.0
        f["value"] = float(f["value"]) / 8.0
    f["note"] = "disaggregated: prefill-only or decode-only nodes, per GPU"


def _rule_vllm_mi300x(r: dict[str, str], f: dict[str, Any], reasons: list[Why]) -> None:
    # vLLM benchmark_serving's ShareGPT sample (1000 prompts) is not the seeded sglang one; its mean lengths
    # are not given, the sglang sample's stand in (same dataset and tokenizer family)
    f["input_len"], f["output_len"], f["prompts"] = SHAREGPT_INPUT_MEAN, 190.0, 1000
    f["max_seqs"] = 1024
    if "tuned" in r["notes"] and f["engine"] == "vllm":
        f["weights"] = "fp8"  # the tuned command loads the FP8 checkpoint
        f["scheduler_steps"] = 15
    if f["mode"] == "rate" and float(f["rate_rps"]) >= 1000:
        f["mode"], f["rate_rps"] = "max_load", 0.0


def _rule_rocm_blog(r: dict[str, str], f: dict[str, Any], reasons: list[Why]) -> None:
    f["metric"], f["mode"], f["batch"] = "batch_latency_ms", "static", 8
    f["value"] = float(f["value"]) * 1e3
    f["note"] = "vLLM benchmark_latency: batch 8 (script default), prefill + 511 decode steps"


def _rule_fp8_kv(r: dict[str, str], f: dict[str, Any], reasons: list[Why]) -> None:
    f["prompts"] = 150


def _rule_qwen(r: dict[str, str], f: dict[str, Any], reasons: list[Why]) -> None:
    if r["metric"] == "output_tokens_per_s_e2e_bs1":
        # 2048 generated tokens / whole request time: the end-to-end latency of one lone request
        f["metric"], f["mode"], f["batch"] = "e2e_ms", "static", 1
        f["value"] = 2048.0 / float(f["value"]) * 1e3
        f["note"] = "batch 1: e2e = 2048 / tokens per s"
    elif r["metric"] == "total_token_throughput":
        reasons.append("duplicate of the request-throughput row of the same run")
    if r["framework"].startswith("vLLM 0.4"):
        # vLLM 0.4.2 (May 2024, the row's stated release) has tuned fused-MoE tile configs for 8 and 16
        # experts only: Qwen2-57B-A14B's 64 run the Triton kernel's default tiles, as SGLang 0.4.1's
        # DeepSeek-V3 rows do; both get the one early-release factor, fitted on both (a nuisance factor:
        # either source held out is predicted with the other's value)
        f["early_moe"] = True
    m = re.search(r"gpu_memory_utilization=([\d.]+)", r["notes"])
    if m:
        f["gpu_memory_utilization"] = float(m.group(1))


def _rule_lmdeploy(r: dict[str, str], f: dict[str, Any], reasons: list[Why]) -> None:
    if f["mode"] == "static":
        f["note"] = "static batch 64 of identical requests"
    f["version"] = "lmdeploy"


def _rule_mlperf(r: dict[str, str], f: dict[str, Any], reasons: list[Why]) -> None:
    reasons.append("MLPerf dataset input lengths are not in the data")


def _rule_mlc(r: dict[str, str], f: dict[str, Any], reasons: list[Why]) -> None:
    # "all numbers are based on PCIe, not NVLink"; vLLM ~0.2.0 had no CUDA graphs yet
    if f["gpu"] == "a100-80gb":
        f["gpu"] = "a100-80gb-pcie"
    f["eager"] = True
    f["metric"], f["mode"], f["batch"] = "e2e_ms", "static", 1
    f["value"] = 256.0 / float(f["value"]) * 1e3
    f["note"] = "batch 1, 7-token prompt: e2e = 256 / tokens per s"


def _rule_inferencex(r: dict[str, str], f: dict[str, Any], reasons: list[Why]) -> None:
    # The harness sends 10 x C prompts at concurrency C, the first C at once. The same runs' TTFT p99 is
    # 1975, 2149, 2644 and 2741 ms at C = 8, 16, 32, 64: nearly flat while the first wave's prefill work
    # grows 8x, so the first wave (10 % of the prompts, where the p99 falls) waits a fixed ~1.9 s that no
    # steady state has (a start-up of the run). That wave alone adds ~190 ms to every mean TTFT.
    if r["metric"] == "ttft_mean":
        reasons.append("mean TTFT carries the run's start-up (its p99 is ~2 s at every concurrency)")
    if r["metric"] == "output_throughput_per_gpu":
        f["value"] = float(f["value"]) * 8.0  # per GPU -> the TP8 replica
    if r["metric"] == "total_throughput_per_gpu":
        reasons.append("duplicate of the output-throughput row of the same run")


def _rule_wide_ep(r: dict[str, str], f: dict[str, Any], reasons: list[Why]) -> None:
    reasons.append("workload lengths and concurrency not given (rounded headline figure)")


SOURCE_RULES: dict[str, Rule] = {
    "sglang-vs-vllm-0.6": _rule_sglang_vs_vllm,
    "datacrunch-h200": _rule_datacrunch,
    "sglang-dsv3-h200": _rule_dsv3,
    "lmsys-large-ep": _rule_large_ep,
    "vllm-blog-mi300x": _rule_vllm_mi300x,
    "rocm-blog-vllm": _rule_rocm_blog,
    "vllm-blog-fp8-kv": _rule_fp8_kv,
    "qwen2.5-speed": _rule_qwen,
    "qwen2-speed": _rule_qwen,
    "lmdeploy-a100": _rule_lmdeploy,
    "mlperf-v5.0": _rule_mlperf,
    "mlc-perf-bench": _rule_mlc,
    "inferencex-870": _rule_inferencex,
    "vllm-blog-wide-ep": _rule_wide_ep,
}
