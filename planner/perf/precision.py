"""Which precisions an engine can run on a GPU family, and what is substituted when one is asked for
that the hardware lacks.

A request for bf16 on a chip without bf16 (Volta, Turing) is run in fp16 (same bytes, same speed) and
the substitution is said; fp16 on a TPU runs in bf16. Weight formats are either computed natively
(W8A8 fp8/int8, NVFP4) or dequantised in the GEMM kernel (weight-only: W4A16 AWQ/GPTQ, fp8 Marlin on
Ampere), which reads fewer bytes but computes at the 16-bit rate. A format no kernel of the engine
supports on that family is refused with the reason, never silently planned.

The tables encode the engines' documented hardware support (vLLM "Supported Hardware" and quantization
compatibility tables, TensorRT-LLM support matrix, SGLang installation notes; 2025), coarse on purpose:
per GPU family, not per GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.types import Gpu

# Families with 16-bit brain-float arithmetic; the others compute 16-bit work in fp16.
BF16_FAMILIES = frozenset({"ampere", "ada", "hopper", "blackwell", "cdna2", "cdna3", "cdna4", "tpu"})
# Families without fp16 arithmetic in the serving stacks (TPU engines run bf16).
NO_FP16_FAMILIES = frozenset({"tpu"})
# Native fp8 tensor-core GEMMs (W8A8 fp8) and fp8 KV caches read by fp8 attention kernels.
FP8_COMPUTE_FAMILIES = frozenset({"ada", "hopper", "blackwell", "cdna3", "cdna4"})
# Native 4-bit float GEMMs (NVFP4 on Blackwell, MXFP4 on CDNA4).
FP4_COMPUTE_FAMILIES = frozenset({"blackwell", "cdna4"})
# Native int8 tensor-core GEMMs (W8A8 int8).
INT8_COMPUTE_FAMILIES = frozenset({"turing", "ampere", "ada", "hopper", "blackwell", "cdna3", "cdna4"})

# Families each engine runs on at all.
ENGINE_FAMILIES: dict[str, frozenset[str]] = {
    "vllm": frozenset({"volta", "turing", "ampere", "ada", "hopper", "blackwell", "cdna2", "cdna3", "cdna4", "tpu"}),
    "sglang": frozenset({"turing", "ampere", "ada", "hopper", "blackwell", "cdna3", "cdna4"}),
    "trtllm": frozenset({"ampere", "ada", "hopper", "blackwell"}),
}

# Weight-only kernels (dequantise to 16-bit inside the GEMM) per engine: format -> families.
WEIGHT_ONLY: dict[str, dict[str, frozenset[str]]] = {
    # Marlin / Machete / AWQ / GPTQ kernels (sm75+ for AWQ/GPTQ, sm80+ for fp8 Marlin); ROCm through Triton
    "vllm": {
        "fp8": frozenset({"ampere"}),
        "int8": frozenset({"volta", "tpu"}),
        "int4": frozenset({"turing", "ampere", "ada", "hopper", "blackwell", "cdna3"}),
    },
    "sglang": {
        "fp8": frozenset({"ampere"}),
        "int4": frozenset({"turing", "ampere", "ada", "hopper", "blackwell", "cdna3"}),
    },
    # TensorRT-LLM weight-only INT8/INT4 and INT4-AWQ GEMMs; no fp8 without fp8 tensor cores
    "trtllm": {
        "int8": frozenset({"ampere", "ada", "hopper", "blackwell"}),
        "int4": frozenset({"ampere", "ada", "hopper", "blackwell"}),
    },
}

# KV cache formats: fp8 KV needs fp8-capable attention kernels (vLLM/SGLang also store fp8 KV on Ampere
# and dequantise it in the attention kernel).
FP8_KV_FAMILIES: dict[str, frozenset[str]] = {
    "vllm": frozenset({"ampere", "ada", "hopper", "blackwell", "cdna3", "cdna4"}),
    "sglang": frozenset({"ampere", "ada", "hopper", "blackwell", "cdna3", "cdna4"}),
    "trtllm": frozenset({"ada", "hopper", "blackwell"}),
}


@dataclass(frozen=True)
class Precision:
    """The formats a replica actually runs: storage dtypes, the GEMM compute dtype and what changed."""

    weights: str  # storage dtype of the linear-layer weights (after substitution)
    kv: str  # storage dtype of the KV cache (after substitution)
    gemm_dtype: str  # dtype the linear layers compute in (peak TFLOPS looked up for this)
    weight_only: bool  # weights dequantised to 16-bit in the GEMM (reads fewer bytes, 16-bit compute)
    notes: tuple[str, ...]  # substitutions, said to the user
    reason: str  # '' if the engine runs this on the family, else why not

    @property
    def supported(self) -> bool:
        return not self.reason


def sixteen_bit(family: str, asked: str = "bf16") -> str:
    """The 16-bit format a family computes in: `asked` if it has it, else the other one."""
    if asked == "bf16" and family not in BF16_FAMILIES:
        return "fp16"
    if asked == "fp16" and family in NO_FP16_FAMILIES:
        return "bf16"
    return asked


def engine_runs_on(engine: str, family: str) -> bool:
    """Whether `engine` runs on GPUs of `family` at all (unknown engines and families: assumed yes)."""
    families = ENGINE_FAMILIES.get(engine)
    return families is None or family in families or family not in _KNOWN_FAMILIES


_KNOWN_FAMILIES = frozenset().union(*ENGINE_FAMILIES.values())


def resolve_precision(gpu: Gpu, engine: str, weights: str, kv: str) -> Precision:
    """What `engine` runs on `gpu` when asked for `weights`/`kv` storage (module doc for the rules)."""
    fam = gpu.family
    notes: list[str] = []
    if not engine_runs_on(engine, fam):
        runs = sorted(e for e, fams in ENGINE_FAMILIES.items() if fam in fams)
        return Precision(
            weights,
            kv,
            "bf16",
            False,
            (),
            f"{engine} does not run on {gpu.id} ({fam}); engines for {fam}: {', '.join(runs) or 'none known'}",
        )
    known = fam in _KNOWN_FAMILIES
    w = weights
    if w in ("bf16", "fp16"):
        w = sixteen_bit(fam, w)
        if w != weights:
            notes.append(f"{gpu.id} ({fam}) has no {weights}: weights run in {w}")
    k = kv
    if k in ("bf16", "fp16"):
        k = sixteen_bit(fam, k)
        if k != kv:
            notes.append(f"{gpu.id} ({fam}) has no {kv}: KV cache stored in {k}")
    elif k == "fp8" and known and fam not in FP8_KV_FAMILIES.get(engine, frozenset({fam})):
        return Precision(w, k, "bf16", False, tuple(notes), f"{engine} has no fp8 KV cache on {gpu.id} ({fam})")
    base = sixteen_bit(fam)
    if w in ("bf16", "fp16"):
        return Precision(w, k, w, False, tuple(notes), "")
    native = {"fp8": FP8_COMPUTE_FAMILIES, "fp4": FP4_COMPUTE_FAMILIES, "int8": INT8_COMPUTE_FAMILIES}
    if not known:
        return Precision(w, k, w if gpu.tflops.get(w) else base, not gpu.tflops.get(w), tuple(notes), "")
    if w in native and fam in native[w]:
        return Precision(w, k, w, False, tuple(notes), "")
    if fam in WEIGHT_ONLY.get(engine, {}).get(w, frozenset()):
        if w in native:  # int4 is weight-only everywhere; fp8/int8 only where the chip lacks the GEMMs
            notes.append(f"{gpu.id} ({fam}) has no {w} GEMMs: {w} weights are dequantised to {base} in the kernel")
        return Precision(w, k, base, True, tuple(notes), "")
    return Precision(w, k, base, False, tuple(notes), f"{engine} has no {w} weight kernels on {gpu.id} ({fam})")
