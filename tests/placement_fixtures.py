"""Models, GPUs and hosts for the placement tests, with values copied from public configs and datasheets.

Model values: HF config.json of each model (OPT-175B: the FlexGen OptConfig, as OPT-175B is not on the hub).
GPU values: vendor datasheets as collected for the gpuplan catalog.
Host: the FlexGen paper machine (arXiv 2303.06865).
No test lives here; the other test_placement*.py files import these objects.
"""

from __future__ import annotations

from catalog.types import Gpu, ModelArch
from solvers.placement_hosts import flexgen_t4_host

SRC = "test fixture copied from the model's HF config.json"


def _opt(id_: str, hidden: int, layers: int, heads: int, ffn: int) -> ModelArch:
    return ModelArch(
        id=id_,
        architecture="OPTForCausalLM",
        layers=layers,
        hidden=hidden,
        heads=heads,
        kv_heads=heads,
        head_dim=hidden // heads,
        intermediate=ffn,
        vocab=50272,
        max_position=2048,
        gated_mlp=False,
        tied_embeddings=True,
        attn_bias=True,
        source=SRC,
        as_of="2024-01",
    )


MODELS: dict[str, ModelArch] = {
    "opt-6.7b": _opt("opt-6.7b", 4096, 32, 32, 16384),
    "opt-30b": _opt("opt-30b", 7168, 48, 56, 28672),
    "opt-175b": _opt("opt-175b", 12288, 96, 96, 49152),
    "llama-3.1-8b": ModelArch(
        id="llama-3.1-8b",
        architecture="LlamaForCausalLM",
        layers=32,
        hidden=4096,
        heads=32,
        kv_heads=8,
        head_dim=128,
        intermediate=14336,
        vocab=128256,
        max_position=131072,
        source=SRC,
        as_of="2024-07",
    ),
    "llama-3.3-70b": ModelArch(
        id="llama-3.3-70b",
        architecture="LlamaForCausalLM",
        layers=80,
        hidden=8192,
        heads=64,
        kv_heads=8,
        head_dim=128,
        intermediate=28672,
        vocab=128256,
        max_position=131072,
        source=SRC,
        as_of="2024-12",
    ),
    "mixtral-8x7b": ModelArch(
        id="mixtral-8x7b",
        architecture="MixtralForCausalLM",
        layers=32,
        hidden=4096,
        heads=32,
        kv_heads=8,
        head_dim=128,
        intermediate=14336,
        vocab=32000,
        max_position=32768,
        moe_experts=8,
        moe_top_k=2,
        moe_intermediate=14336,
        source=SRC,
        as_of="2023-12",
    ),
}


def _gpu(id_: str, mem: float, bw: float, fp16: float, pcie: float, family: str) -> Gpu:
    return Gpu(
        id=id_,
        name=id_,
        vendor="nvidia",
        family=family,
        memory_gb=mem,
        mem_bandwidth_gb_per_s=bw,
        tflops={"fp16": fp16, "bf16": fp16},
        pcie_gb_per_s=pcie,
        source="test fixture (datasheet values)",
        as_of="2024-01",
    )


GPUS: dict[str, Gpu] = {
    "t4": _gpu("t4", 16, 320, 65, 16, "turing"),
    "l4": _gpu("l4", 24, 300, 121, 32, "ada"),
    "a10g": _gpu("a10g", 24, 600, 70, 32, "ampere"),
    "a100-40gb": _gpu("a100-40gb", 40, 1555, 312, 32, "ampere"),
    "a100-80gb": _gpu("a100-80gb", 80, 2039, 312, 32, "ampere"),
}

FLEXGEN_T4 = flexgen_t4_host()  # the FlexGen paper machine, the host `gpuplan place` assumes by default
