"""Engine launch commands: every flag comes from the plan's engine settings and says which assumption it carries.

Memory fractions follow each engine's own semantics (data/engine_args/<engine>.yaml `memory_semantics`):
- vLLM `--gpu-memory-utilization`: share of total GPU memory for everything -> the plan's utilisation;
- SGLang `--mem-fraction-static`: share of total GPU memory for weights + KV pool -> (weights + KV) / memory;
- TensorRT-LLM `free_gpu_memory_fraction`: share of the memory left after weights and the warm-up pass
  -> KV / (memory - weights - activations - runtime reserve).
Each one gives the engine the KV cache the estimator counted, in the GPU memory the catalog counts.

A launch is rendered as one bash script (the same text runs from a file, inside SkyPilot's `run` and as a
Kubernetes container's `bash -c` argument): a `# comment` above every flag in a bash array, and for
TensorRT-LLM its LLM-API options file written from a here-document.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from planner.export.engine_args import EngineArgs, engine_args
from planner.export.fleet import Endpoint, ExportRefused

CONFIG_EOF = "GPUPLAN_LLM_API_OPTIONS"


@dataclass(frozen=True)
class Flag:
    """One engine argument; `name` '' is a positional argument (the model)."""

    name: str
    value: str | None
    carries: str  # which planning assumption this flag carries


@dataclass(frozen=True)
class ConfigKey:
    """One key of an engine config file (dotted path), with the assumption it carries."""

    path: str
    value: str | int | float | bool
    carries: str


@dataclass(frozen=True)
class EngineCommand:
    endpoint: Endpoint
    args: EngineArgs
    flags: tuple[Flag, ...]
    config: tuple[ConfigKey, ...] = ()
    served_model_name: str = ""

    @property
    def config_path(self) -> str:
        return f"/tmp/gpuplan-{self.endpoint.id}.yaml"


def _fmt(x: float) -> str:
    return f"{x:.6f}".rstrip("0").rstrip(".")


def _dtype_value(table: dict[str, str], dtype: str, what: str, e: Endpoint, args: EngineArgs, valid_hint: str) -> str:
    if dtype not in table:
        raise ExportRefused(
            f"{what} {dtype} cannot be set on {args.label} ({valid_hint}: {', '.join(sorted(table)) or 'none'})",
            where=f"replica group {e.group.candidate}",
        )
    return table[dtype]


def _weights_flags(e: Endpoint, args: EngineArgs, flag: str, dtype_flag: str | None) -> list[Flag]:
    """Weight precision: a 16-bit model dtype, on-the-fly quantisation, or a checkpoint already quantised."""
    w = e.group.weights
    if w in args.model_dtype:
        value = args.model_dtype[w]
        if dtype_flag is None or value == "auto":
            return []
        return [Flag(dtype_flag, value, f"weights in {w}, as planned (a 16-bit checkpoint)")]
    if e.checkpoint != e.settings.hf_repo:
        return []  # the user's checkpoint is stored in the planned format; the engine reads it from its config
    value = _dtype_value(
        args.weights_quantization, w, "weight precision", e, args, "on-the-fly quantisation methods it has"
    )
    return [Flag(flag, value, f"weights quantised to {w} at load time, as planned")]


def engine_command(e: Endpoint, engine: str) -> EngineCommand:
    """The launch of one replica of `e` with `engine`; ExportRefused when the engine cannot express it."""
    if e.group.engine != engine:
        raise ExportRefused(
            f"was planned with the {e.group.engine} profile ({e.settings.profile}); a {engine} fleet would not be "
            f"the fleet that was planned. Export --to {e.group.engine}, or re-plan with search.engine: {engine}",
            where=f"replica group {e.group.candidate}",
        )
    args = engine_args(engine)
    s, g = e.settings, e.group
    model_carries = f"the model {e.model_id} (checkpoint to load)"
    kv_carries = f"KV cache stored in {g.kv}, as planned"
    tp_carries = f"tensor-parallel degree of the replica group ({g.tp} x {e.allocation.gpu} per replica)"
    len_carries = "longest request (input + output tokens) the plan routes to this group"
    seqs_carries = f"most sequences one replica runs at once, as estimated ({s.profile} profile)"
    chunk_carries = f"tokens per forward pass, as estimated ({s.profile}); longer prompts are prefilled in chunks"
    config: tuple[ConfigKey, ...] = ()
    if engine == "vllm":
        flags = [
            Flag("", e.checkpoint, model_carries),
            Flag("--served-model-name", e.model, "the plan's model name, which clients and the router send"),
            Flag("--tensor-parallel-size", str(g.tp), tp_carries),
            Flag("--pipeline-parallel-size", str(s.pp), "pipeline stages per replica"),
            *_weights_flags(e, args, "--quantization", "--dtype"),
            Flag(
                "--kv-cache-dtype",
                _dtype_value(args.kv_cache_dtype, g.kv, "KV cache dtype", e, args, "valid"),
                kv_carries,
            ),
            Flag("--max-model-len", str(s.max_model_len), len_carries),
            Flag("--max-num-seqs", str(s.max_num_seqs), seqs_carries),
            Flag("--enable-chunked-prefill", None, "prefill chunked to the token budget below, as estimated"),
            Flag("--max-num-batched-tokens", str(s.max_num_batched_tokens), chunk_carries),
            Flag(
                "--gpu-memory-utilization",
                _fmt(s.gpu_memory_utilization),
                f"share of each GPU's memory the engine may use ({args.engine} semantics: all of it, "
                f"weights + activations + KV cache), the plan's gpu_memory_utilization",
            ),
        ]
        served = e.model
    elif engine == "sglang":
        frac = (s.weights_gb_per_gpu + s.kv_cache_gb_per_gpu) / s.gpu_memory_gb
        flags = [
            Flag("--model-path", e.checkpoint, model_carries),
            Flag("--served-model-name", e.model, "the plan's model name, which clients and the router send"),
            Flag("--tp-size", str(g.tp), tp_carries),
            Flag("--pp-size", str(s.pp), "pipeline stages per replica"),
            *_weights_flags(e, args, "--quantization", "--dtype"),
            Flag(
                "--kv-cache-dtype",
                _dtype_value(args.kv_cache_dtype, g.kv, "KV cache dtype", e, args, "valid"),
                kv_carries,
            ),
            Flag("--context-length", str(s.max_model_len), len_carries),
            Flag("--max-running-requests", str(s.max_num_seqs), seqs_carries),
            *(
                [
                    Flag(
                        "--cuda-graph-max-bs-decode",
                        str(s.cuda_graph_max_batch),
                        "largest decode batch run as a CUDA graph, as estimated (larger batches run eager)",
                    )
                ]
                if s.cuda_graph_max_batch is not None
                else []
            ),
            Flag("--chunked-prefill-size", str(s.max_num_batched_tokens), chunk_carries),
            Flag(
                "--mem-fraction-static",
                _fmt(frac),
                f"(weights {_fmt(s.weights_gb_per_gpu)} + KV cache {_fmt(s.kv_cache_gb_per_gpu)} GB) / "
                f"{_fmt(s.gpu_memory_gb)} GB per GPU: the estimator's KV cache in SGLang's semantics "
                "(static = weights + KV pool)",
            ),
        ]
        served = e.model
    else:
        if g.weights not in args.model_dtype and e.checkpoint == s.hf_repo:
            raise ExportRefused(
                f"has {g.weights} weights; {args.label} (PyTorch backend) reads the weight format from the "
                f"checkpoint and does not quantise at load time. Give a checkpoint stored in {g.weights} with "
                f"--checkpoint {e.model}=ORG/REPO (e.g. a ModelOpt export)",
                where=f"replica group {e.group.candidate}",
            )
        left = s.gpu_memory_gb - s.weights_gb_per_gpu - s.activation_gb_per_gpu - s.runtime_reserve_gb_per_gpu
        frac = s.kv_cache_gb_per_gpu / left
        flags = [
            Flag(
                "",
                e.checkpoint,
                model_carries
                + ("" if g.weights in args.model_dtype else f", stored in {g.weights} as planned (--checkpoint)"),
            ),
            Flag("--backend", "pytorch", "the PyTorch backend, which the calibration rows were measured on"),
            Flag("--tp_size", str(g.tp), tp_carries),
            Flag("--pp_size", str(s.pp), "pipeline stages per replica"),
            Flag("--max_seq_len", str(s.max_model_len), len_carries),
            Flag("--max_batch_size", str(s.max_num_seqs), seqs_carries),
            Flag("--max_num_tokens", str(s.max_num_batched_tokens), chunk_carries),
            Flag(
                "--kv_cache_free_gpu_memory_fraction",
                _fmt(frac),
                f"KV cache {_fmt(s.kv_cache_gb_per_gpu)} GB / {_fmt(left)} GB left per GPU after weights, "
                "activations and runtime reserve: the estimator's KV cache in TensorRT-LLM's semantics",
            ),
            Flag("--extra_llm_api_options", f"/tmp/gpuplan-{e.id}.yaml", "the options file written above"),
        ]
        config = (
            ConfigKey(
                "kv_cache_config.dtype",
                _dtype_value(args.kv_cache_dtype, g.kv, "KV cache dtype", e, args, "valid"),
                kv_carries,
            ),
            ConfigKey("enable_chunked_prefill", True, "prefill chunked to --max_num_tokens, as estimated"),
        )
        served = e.checkpoint
    bad = args.undocumented([f.name for f in flags if f.name] + ["--host", "--port"], [c.path for c in config])
    if bad:  # a bug in this module, not in the plan: never write a flag the release does not define
        raise ExportRefused(f"{args.label} does not define {', '.join(bad)}", where=f"replica group {g.candidate}")
    return EngineCommand(endpoint=e, args=args, flags=tuple(flags), config=config, served_model_name=served)


def _yaml_scalar(v: str | int | float | bool) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def render_script(cmd: EngineCommand, header: list[str]) -> str:
    """The bash script that starts one replica; GPUs come from CUDA_VISIBLE_DEVICES, the port from PORT."""
    e, s = cmd.endpoint, cmd.endpoint.settings
    lines = ["#!/usr/bin/env bash", *(f"# {h}" for h in header)]
    lines += [
        f"# {cmd.args.label} ({cmd.args.source.split(':')[0]}); image {cmd.args.image}",
        f"# {e.model}: {e.group.tp} GPU(s) per replica, {e.group.weights} weights, {e.group.kv} KV cache, "
        f"profile {s.profile}",
        "set -euo pipefail",
    ]
    if cmd.config:
        lines.append(f"cat > {cmd.config_path} <<'{CONFIG_EOF}'")
        tree: dict[str, list[ConfigKey]] = {}
        for c in cmd.config:
            head, _, _ = c.path.partition(".")
            tree.setdefault(head, []).append(c)
        for head, keys in tree.items():
            if "." in keys[0].path:
                lines.append(f"{head}:")
                for c in keys:
                    lines.append(f"  # {c.carries}")
                    lines.append(f"  {c.path.split('.', 1)[1]}: {_yaml_scalar(c.value)}")
            else:
                for c in keys:
                    lines += [f"# {c.carries}", f"{c.path}: {_yaml_scalar(c.value)}"]
        lines.append(CONFIG_EOF)
    lines.append("args=(")
    for f in cmd.flags:
        lines.append(f"  # {f.carries}")
        parts = [f.name] if f.name else []
        if f.value is not None:
            parts.append(shlex.quote(f.value))
        lines.append("  " + " ".join(parts))
    lines.append(")")
    launcher = " ".join(shlex.quote(c) for c in cmd.args.command)
    lines.append(f'exec {launcher} "${{args[@]}}" --host 0.0.0.0 --port "${{PORT:-8000}}"')
    return "\n".join(lines) + "\n"
