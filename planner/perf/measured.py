"""Published measurements (catalog/data/measured-calibration*.csv) mapped onto the estimator's inputs.

Every CSV row becomes one `MeasuredRow`: the catalog model and GPU, the deployment (tp, ep, DP attention,
precision, engine and the engine settings the source states), how the load was applied, the request
lengths, the metric (in the estimator's units, per replica) and whether it is scored.

A row is left unscored only for a reason that comes from the data, never from the estimator's error:
an engine gpuplan does not model, request lengths the source does not give, a statistic a mean-value
model cannot produce (p90/p99), a metric the source says is measured differently (multi-step ITL), a
duplicate of another row of the same run, a queue whose latency grows with the run's length, or a mean
that carries a start-up of the run its own percentiles show (InferenceX's TTFT). The
reason is kept in `note` and printed by bench/estimator_accuracy.py. Assumptions that fill a gap the
source leaves (a GPU variant, ShareGPT mean lengths) are written next to the code that makes them and in
catalog/data/CALIBRATION.md.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from catalog.loader import DATA_DIR
from planner.perf.measured_sources import (
    SHAREGPT_INPUT_MEAN,
    SOURCE_RULES,
    Why,
    source_id,
    stated_length,
)

FILES = ("measured-calibration.csv", "measured-calibration-2.csv")

Mode = Literal["max_load", "static", "closed", "rate"]
Metric = Literal[
    "output_tokens_per_s",  # per replica
    "output_tokens_per_s_per_gpu",  # static-batch tables that report per GPU
    "requests_per_s",  # per replica
    "ttft_ms",
    "tpot_ms",
    "itl_ms",  # time between consecutive tokens (a decode step)
    "e2e_ms",
    "batch_latency_ms",  # static batch: prefill + all decode steps
    "prefill_tokens_per_s_per_gpu",  # prefill-only (disaggregated) throughput
    "decode_tokens_per_s_per_gpu",  # decode-only (disaggregated) throughput
]
Stat = Literal["mean", "median", "p90", "p99", "value"]


@dataclass(frozen=True)
class MeasuredRow:
    """One published measurement as an estimator scenario. Values are per replica unless the metric
    says per GPU; lengths are the run's mean input and output tokens."""

    file: str
    line: int  # 1-based data row of the file (header excluded)
    source: str  # short id of the publication (measured_sources.SOURCES)
    model: str
    gpu: str
    tp: int
    engine: str
    weights: str
    kv: str
    mode: Mode
    batch: int  # static batch or closed-loop concurrency (0: as many as fit)
    rate_rps: float  # open-loop arrival rate per replica (mode "rate")
    input_len: float
    output_len: float
    metric: Metric
    stat: Stat
    value: float
    scored: bool
    note: str
    prompts: int = 0  # requests in a finite run (0: not stated or effectively unbounded)
    ep: int = 1  # expert-parallel ranks (MoE); experts are split, not sharded, across them
    dp_attention: bool = False  # attention data-parallel over the tp ranks (each request's KV on one GPU)
    nodes: int = 1  # nodes the replica spans (links between them are the scale-out network)
    legacy: bool = False  # TensorRT-LLM v0.5/v0.6 (2023) static-batching runtime
    early_moe: bool = False  # the engine release ran an early MoE path (measured_sources: which and why)
    eager: bool = False  # no CUDA graphs: every kernel launched from Python
    max_seqs: int = 0  # scheduler sequence limit the run states (0: the engine's default)
    cuda_graph_max_batch: int = 0  # largest CUDA-graph decode batch of the run's release (0: the default)
    overlap_schedule: bool | None = None  # the release's scheduler launches a step ahead (None: the default)
    scheduler_steps: int = 1  # vLLM multi-step scheduling (--num-scheduler-steps)
    gpu_memory_utilization: float = 0.9
    saturated: bool = False  # the run offered more load than it served (queue grows with its length)
    version: str = ""  # engine release as the source gives it

    @property
    def label(self) -> str:
        load = {
            "max_load": "max",
            "static": f"b{self.batch}",
            "closed": f"c{self.batch}",
            "rate": f"{self.rate_rps:g}rps",
        }[self.mode]
        par = f"x{self.tp}" + (f"ep{self.ep}" if self.ep > 1 else "") + ("dpa" if self.dp_attention else "")
        return (
            f"{self.model} {self.weights} {self.gpu}{par} {self.engine} "
            f"{self.input_len:.0f}/{self.output_len:.0f} {load}"
        )

    @property
    def key(self) -> str:
        """Stable row id: file number and line (1:17, 2:203)."""
        return f"{FILES.index(self.file) + 1}:{self.line}"


# ---------------------------------------------------------------------------------------------------
# File 1: TensorRT-LLM perf docs (v1.0, v0.6.1), NVIDIA NIM 1.8.0, vLLM CI build 9515.
MODEL_IDS_1 = {
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
GPU_PREFIXES_1 = (("H200", "h200"), ("H100", "h100-sxm"), ("B200", "b200"), ("A100", "a100-80gb"))
# FP8/FP4 rows are NVIDIA ModelOpt (or TensorRT-LLM FP8) builds, which quantise the KV cache to FP8 too.
PRECISIONS_1 = {"FP8": ("fp8", "fp8"), "FP4": ("fp4", "fp8"), "FP16": ("fp16", "fp16"), "BF16": ("bf16", "bf16")}
# ShareGPT rows of the vLLM CI throughput test name no lengths and are not scored (200 prompts: the run
# ends with its longest outputs, which mean lengths cannot represent); the vLLM paper's mean ShareGPT
# lengths (Kwon et al., SOSP 2023: 161 in, 338 out) stand in for display.
SHAREGPT_VLLM_PAPER = (161.0, 338.0)


def _engine_1(framework: str) -> str:
    f = framework.lower()
    if f.startswith("vllm"):
        return "vllm"
    if "tensorrt" in f or f.startswith("nvidia nim"):  # NIM serves these models with TensorRT-LLM
        return "trtllm"
    raise ValueError(f"unknown framework {framework!r}")


def _row_1(k: int, r: dict[str, str]) -> MeasuredRow:
    metric, load, framework = r["metric"], r["batch_or_concurrency"], r["framework"]
    gpu = next(gid for prefix, gid in GPU_PREFIXES_1 if r["gpu"].startswith(prefix))
    weights, kv = PRECISIONS_1[r["precision"].split("/")[0].split(" ")[0].upper()]
    base = MeasuredRow(
        file=FILES[0],
        line=k,
        source=source_id(r["source"]),
        model=MODEL_IDS_1[r["model"]],
        gpu=gpu,
        tp=int(r["tp"]),
        engine=_engine_1(framework),
        weights=weights,
        kv=kv,
        mode="max_load",
        batch=0,
        rate_rps=0.0,
        input_len=stated_length(r["input_len"]) or 0.0,
        output_len=stated_length(r["output_len"]) or 0.0,
        metric="output_tokens_per_s",
        stat="mean",
        value=float(r["value"]),
        scored=True,
        note="",
        legacy=framework.startswith("TensorRT-LLM v0."),
        version=framework,
    )
    if metric == "output_throughput_total" and load.startswith("max-load"):
        return replace(base, note="offline max load (trtllm-bench), whole TP group")
    if metric == "output_throughput_total" and load.startswith("concurrency"):
        return replace(base, mode="closed", batch=int(load.split()[1]), note="closed loop")
    if metric in ("output_throughput_per_gpu", "output_throughput"):
        # v0.6.1 tables: the H100 table is per GPU; the A100 table's header is ambiguous, but only the
        # per-GPU reading is consistent with the same doc's H100 table and with plausible MFU.
        return replace(
            base, mode="static", batch=int(load), metric="output_tokens_per_s_per_gpu", note="static batch, per GPU"
        )
    if metric.startswith("TTFT (1st token"):
        return replace(base, mode="static", batch=int(load), metric="ttft_ms", note="static batch, prefill latency")
    if metric == "TTFT mean":
        return replace(base, mode="closed", batch=int(load.split()[1]), metric="ttft_ms", note="closed loop")
    if metric.startswith("ITL"):
        return replace(base, mode="closed", batch=int(load.split()[1]), metric="tpot_ms", note="closed loop")
    if metric.startswith("end-to-end latency"):
        return replace(
            base,
            mode="static",
            batch=int(load.split()[1]),
            metric="batch_latency_ms",
            note="whole batch, vLLM latency benchmark",
        )
    if metric == "request throughput":
        i, o = SHAREGPT_VLLM_PAPER
        return replace(
            base,
            input_len=i,
            output_len=o,
            prompts=200,
            metric="requests_per_s",
            scored=False,
            note="unscored: ShareGPT lengths not given; a 200-prompt run ends with its longest outputs",
        )
    raise ValueError(f"unmapped metric {metric!r} at load {load!r}")


# ---------------------------------------------------------------------------------------------------
# File 2: fourteen publications (catalog/data/CALIBRATION.md lists them).
MODEL_IDS_2 = {"deepseek-r1": "deepseek-v3"}  # DeepSeek-R1 has the DeepSeek-V3 architecture
# Plain "h100" is a card the source does not name; every such row runs TP4+ or a cluster, which points
# at SXM (NVLink) machines; the MLC benchmark's cards are PCIe (it says so).
GPU_IDS_2 = {"h100": "h100-sxm"}
def _prompts(load: str) -> int:
    m = re.search(r"(\d+) (?:ShareGPT )?prompts", load)
    return int(m.group(1)) if m else 0


def _rate(load: str) -> float | None:
    m = re.search(r"request rate ([\d.]+) req/s", load)
    return float(m.group(1)) if m else None


def _concurrency(load: str) -> int | None:
    m = re.search(r"(?:max concurrency(?:/batch)?|concurrency) (\d+)", load)
    return int(m.group(1)) if m else None


def _stat_metric(metric: str) -> tuple[Metric | None, Stat]:
    """The estimator metric and statistic of a file-2 metric name (None: not a serving metric we map)."""
    for prefix, mapped in (("ttft", "ttft_ms"), ("tpot", "tpot_ms"), ("itl", "itl_ms"), ("e2e_latency", "e2e_ms")):
        if metric.startswith(prefix + "_"):
            stat = metric.rsplit("_", 1)[1]
            return mapped, {"p50": "median"}.get(stat, stat)  # type: ignore[return-value]
    table: dict[str, Metric] = {
        "output_throughput_total": "output_tokens_per_s",
        "request_throughput": "requests_per_s",
        "output_throughput_per_gpu": "output_tokens_per_s",
    }
    return table.get(metric), "value"


def _precision_2(text: str) -> tuple[str, str]:
    t = text.upper()
    if t.startswith("INT4"):
        return "int4", "fp16"
    if "KV FP8" in t or "KV F" in t and "FP8" in t.split("KV", 1)[1]:
        kv = "fp8"
    elif "FP16" in t:
        kv = "fp16"
    else:
        kv = "bf16"
    if t.startswith("FP8") or t.startswith("FP8 WEIGHTS"):
        return "fp8", kv
    if t.startswith("FP16"):
        return "fp16", "fp16"
    return "bf16", kv


def _engine_2(framework: str) -> tuple[str, bool]:
    """(engine id, whether gpuplan models it)."""
    f = framework.lower()
    for prefix, eid in (("vllm", "vllm"), ("sglang", "sglang"), ("lmdeploy", "lmdeploy")):
        if f.startswith(prefix):
            return eid, True
    if "tensorrt" in f:
        return "trtllm", True
    if f.startswith("mlc"):
        return "mlc", False
    if f.startswith("tgi"):
        return "tgi", False
    return "llmboost", False


def _row_2(k: int, r: dict[str, str]) -> MeasuredRow:
    src = source_id(r["source"])
    engine, modelled = _engine_2(r["framework"])
    metric, stat = _stat_metric(r["metric"])
    weights, kv = _precision_2(r["precision"])
    load, notes = r["batch_or_concurrency"], r["notes"]
    tp_text = r["tp"]
    tp = int(tp_text.split()[0]) if tp_text.split()[0].isdigit() else 1
    gpu = GPU_IDS_2.get(r["gpu"], r["gpu"])
    value = float(r["value"])
    if r["unit"].startswith("s") and metric in ("ttft_ms", "e2e_ms"):
        value *= 1e3
    fields: dict[str, Any] = dict(
        file=FILES[1],
        line=k,
        source=src,
        model=MODEL_IDS_2.get(r["model"], r["model"]),
        gpu=gpu,
        tp=tp,
        engine=engine,
        weights=weights,
        kv=kv,
        mode="rate",
        batch=0,
        rate_rps=0.0,
        input_len=stated_length(r["input_len"]) or 0.0,
        output_len=stated_length(r["output_len"]) or 0.0,
        metric=metric,
        stat=stat,
        value=value,
        scored=True,
        note="",
        prompts=_prompts(load),
        version=r["framework"],
        eager="enforce_eager=True" in notes or "enforce-eager" in notes or "disable-cuda-graph" in notes,
    )
    reasons: list[Why] = []
    rate = _rate(load)
    conc = _concurrency(load)
    if rate is not None:
        fields["mode"], fields["rate_rps"] = "rate", rate
    elif conc is not None:
        fields["mode"], fields["batch"] = "closed", conc
    elif "offline" in load or "Offline" in load or "1000 req/s" in load:
        fields["mode"] = "max_load"
    elif load.startswith("batch") or load.startswith("static batch"):
        fields["mode"], fields["batch"] = "static", int(re.findall(r"\d+", load)[0])
    else:
        fields["mode"] = "max_load"
    handler = SOURCE_RULES.get(src)
    if handler is not None:
        handler(r, fields, reasons)
    if not modelled:
        reasons.append(f"engine {r['framework']!r} is not modelled")
    if fields["metric"] is None:
        fields["metric"] = "output_tokens_per_s"
        if not reasons:
            reasons.append(f"metric {r['metric']!r} is not mapped")
    if stat in ("p90", "p99"):
        reasons.append(f"{stat} is a tail: the calibration fits means (bench/simulate_published.py checks tails)")
    if not fields["input_len"] or not fields["output_len"]:
        reasons.append("request lengths not given")
    if reasons:
        fields["scored"] = False
        fields["note"] = "unscored: " + "; ".join(dict.fromkeys(reasons))
    elif not fields["note"]:
        fields["note"] = {
            "rate": "open loop (Poisson)",
            "closed": "closed loop",
            "max_load": "offline max load",
            "static": "static batch",
        }[str(fields["mode"])]
    return MeasuredRow(**fields)


def _pair_output_means(rows: list[MeasuredRow]) -> list[MeasuredRow]:
    """Offline ShareGPT runs that report both request and output throughput: the run's mean output
    length is their ratio (the request row then duplicates the output row)."""
    out = []
    for row in rows:
        if row.mode == "max_load" and row.file == FILES[1] and row.output_len == 0.0:
            twin = next(
                (
                    t
                    for t in rows
                    if t is not row
                    and (t.source, t.model, t.gpu, t.tp, t.version, t.prompts)
                    == (row.source, row.model, row.gpu, row.tp, row.version, row.prompts)
                    and {t.metric, row.metric} == {"requests_per_s", "output_tokens_per_s"}
                ),
                None,
            )
            if twin is not None:
                tput = row.value if row.metric == "output_tokens_per_s" else twin.value
                req = twin.value if row.metric == "output_tokens_per_s" else row.value
                note = row.note
                scored = row.scored
                if row.metric == "requests_per_s":
                    scored, note = False, "unscored: duplicate of the output-throughput row of the same run"
                elif note.startswith("unscored: request lengths not given"):
                    scored, note = True, "offline max load; mean output = output / request throughput"
                row = replace(
                    row,
                    input_len=SHAREGPT_INPUT_MEAN,
                    output_len=round(tput / req, 1),
                    scored=scored,
                    note=note,
                )
        out.append(row)
    return out


def parse(text: str, file: str) -> tuple[MeasuredRow, ...]:
    """Map every row of one calibration file; an unmappable row is an error (the tables must cover it)."""
    reader = csv.DictReader(io.StringIO(text))
    if file == FILES[0]:
        return tuple(_row_1(k, r) for k, r in enumerate(reader, start=1))
    return tuple(_pair_output_means([_row_2(k, r) for k, r in enumerate(reader, start=1)]))


def load_rows(data_dir: Path = DATA_DIR) -> tuple[MeasuredRow, ...]:
    """Both calibration files, in file order."""
    out: list[MeasuredRow] = []
    for name in FILES:
        out.extend(parse((data_dir / name).read_text(encoding="utf-8"), name))
    return tuple(out)
