"""Cost model of offloaded inference (FlexGen's zig-zag block schedule, generalised and corrected).

A *block* is `num_gpu_batches` GPU batches of `gpu_batch_size` sequences that go through the model
layer by layer together: each layer's weights are loaded once per block and used by every GPU batch,
so a bigger block amortises weight traffic. A *policy* places fractions of the weights, the KV cache and
the activations (hidden states between layers) on GPU, CPU RAM and disk.

Every time and memory quantity here is an affine function of the nine placement fractions
x = (w_gpu, w_cpu, w_disk, kv_gpu, kv_cpu, kv_disk, act_gpu, act_cpu, act_disk) once the block is fixed,
which is what lets `solvers.placement` optimise them with a small LP. The same forms evaluate a given
(e.g. rounded) policy, so the LP and the re-check cannot disagree about the physics.

Pass time (prefill, or one decode step, of the whole block) is the max over channels that run
concurrently (transfers overlap compute, FlexGen §4.2):
  cpu_to_gpu  weights on CPU/disk, activations, KV read by GPU attention           / host link H2D
  gpu_to_cpu  new KV written to CPU/disk (strided, slower), activations             / host link D2H
  disk_read   weights, KV and activations that live on disk                         / disk read
  disk_write  new KV and activations that live on disk                              / disk write
  gpu         per GPU batch: sum over ops of max(FLOPs / compute, bytes / HBM bandwidth)   <- the HBM
              roofline term FlexGen's cost model lacks (it used one measured FLOP rate per stage)
  cpu         attention over CPU-resident KV when it is delegated to the CPU (memory bound)
plus a fixed per-layer, per-GPU-batch overhead that cannot overlap.

Peak memory takes the *max* over working buffers that are never live together (attention scores,
MLP intermediate, QKV, logits), not their sum as FlexGen did; resident data and double buffers add.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from catalog.types import Gpu, HostProfile, ModelArch

GB = 1e9
NX = 9  # placement fractions
W_GPU, W_CPU, W_DISK, KV_GPU, KV_CPU, KV_DISK, ACT_GPU, ACT_CPU, ACT_DISK = range(NX)
CONST = NX  # index of the constant term in a form

Form = npt.NDArray[np.float64]  # length NX + 1: coefficients of x, then the constant
CHANNELS = ("cpu_to_gpu", "gpu_to_cpu", "disk_read", "disk_write", "gpu", "cpu")
COMPRESSIBLE = ("fp16", "bf16", "int4")


def form(const: float = 0.0, **coef: float) -> Form:
    """An affine form in the placement fractions, e.g. form(0.5, w_cpu=2.0)."""
    f = np.zeros(NX + 1)
    f[CONST] = const
    for name, value in coef.items():
        f[_INDEX[name]] += value
    return f


_INDEX = {
    "w_gpu": W_GPU,
    "w_cpu": W_CPU,
    "w_disk": W_DISK,
    "kv_gpu": KV_GPU,
    "kv_cpu": KV_CPU,
    "kv_disk": KV_DISK,
    "act_gpu": ACT_GPU,
    "act_cpu": ACT_CPU,
    "act_disk": ACT_DISK,
}


@dataclass(frozen=True)
class OffloadRuntime:
    """Global properties of the offloading runtime and the few efficiency factors fitted to measurements.

    None of these is per case: each is a physical ratio that applies to every model, length and block.
    """

    gemm_efficiency: float
    """achieved / peak 16-bit tensor TFLOPS in the runtime's GEMMs and attention (compute-bound ops)"""
    hbm_efficiency: float
    """achieved / peak GPU memory bandwidth in memory-bound kernels"""
    cpu_attention_efficiency: float
    """achieved / peak host DRAM bandwidth of attention computed on the CPU over the offloaded KV cache"""
    kv_store_d2h_efficiency: float
    """GPU->CPU bandwidth of KV-cache stores relative to contiguous activation copies (strided layout)"""
    kv_store_disk_efficiency: float
    """CPU->disk bandwidth of KV-cache stores relative to contiguous activation writes"""
    overlap_efficiency: float
    """share of the non-bottleneck channels' time that overlap hides: pass time =
    max(channels) + (1 - overlap_efficiency) * (sum(channels) - max(channels)); 1 = perfect overlap"""
    layer_overhead_s: float
    """fixed, non-overlapped cost per layer and GPU batch (kernel launches, synchronisation)"""
    gpu_reserve_gb: float
    """GPU memory the runtime cannot use (CUDA context, cuBLAS workspace, allocator slack)"""
    cpu_reserve_gb: float
    """host RAM left to the OS and the runtime itself"""
    int4_group_size: int = 64
    """group-wise 4-bit quantisation: one fp16 scale and one fp16 minimum per group"""
    dequant_materialises_fp16: bool = True
    """the runtime dequantises a compressed tensor to fp16 in GPU memory before using it"""
    dequant_traffic_bytes_per_element: float = 17.0
    """GPU-memory traffic of (de)quantising one element with unfused elementwise kernels: unpack the two
    nibbles (read 1, write 1), cast to fp16 (1+2), scale (2+2), add the minimum (2+2), make contiguous
    (2+2); the GEMM or attention then reads the fp16 copy once more"""
    eager_attention: bool = True
    """attention materialises the full score matrix (no flash attention): full s*s FLOPs and bytes"""
    cpu_attention_with_compressed_kv: bool = False
    """whether the runtime can run CPU attention over a compressed KV cache"""
    source: str = ""
    fit: str = ""


@dataclass(frozen=True)
class Tensor:
    """A weight tensor a runtime places as a whole (the unit of weight realisation)."""

    name: str
    elements: int
    routed_expert: bool = False


@dataclass(frozen=True)
class Layer:
    name: str
    tensors: tuple[Tensor, ...]

    @property
    def elements(self) -> int:
        return sum(t.elements for t in self.tensors)


def weight_bytes_per_element(dtype: str, runtime: OffloadRuntime) -> float:
    """Stored bytes per weight/KV element; int4 is group-wise with an fp16 scale and minimum per group."""
    if dtype in ("fp16", "bf16"):
        return 2.0
    if dtype == "int4":
        return 0.5 + 4.0 / runtime.int4_group_size
    raise ValueError(f"unsupported offload dtype {dtype!r}")


def hbm_bytes_per_element(dtype: str, runtime: OffloadRuntime) -> float:
    """GPU-memory traffic per element when a kernel uses a stored tensor (dequantisation included)."""
    stored = weight_bytes_per_element(dtype, runtime)
    if dtype == "int4" and runtime.dequant_materialises_fp16:
        return stored + runtime.dequant_traffic_bytes_per_element + 2.0
    return stored


@lru_cache(maxsize=64)
def model_layers(model: ModelArch) -> tuple[Layer, ...]:
    """The model as a runtime sees it: input embedding, transformer layers (tensors), output head.

    Element counts add up to `model.total_params`; norms and biases ride with the nearest matrix.
    """
    h, hd = model.hidden, model.head_dim
    layers: list[Layer] = [Layer("embed", (Tensor("embed_tokens", model.vocab * h),))]
    dense_layers = model.moe_dense_layers if model.is_moe else model.layers
    attn = model.attention_params_per_layer()
    q_el = h * model.heads * hd
    kv_el = h * model.kv_heads * hd
    o_el = attn - q_el - 2 * kv_el  # MLA or biases: the remainder stays with the output projection
    attn_tensors = [Tensor("q_proj", q_el), Tensor("k_proj", kv_el), Tensor("v_proj", kv_el)]
    if model.is_mla:
        attn_tensors = [Tensor("attn_in", attn - model.heads * model.v_head_dim * h)]
        o_el = model.heads * model.v_head_dim * h
    for i in range(model.layers):
        tensors = [*attn_tensors, Tensor("o_proj", o_el + 2 * h)]
        if i < dense_layers:
            width = model.intermediate
            if model.gated_mlp:
                tensors += [Tensor("gate_proj", h * width), Tensor("up_proj", h * width)]
            else:
                tensors += [Tensor("fc1", h * width)]
            tensors.append(Tensor("down_proj" if model.gated_mlp else "fc2", h * width))
        else:
            tensors.append(Tensor("router", h * model.moe_experts))
            tensors += [Tensor(f"shared_{j}", model.expert_params()) for j in range(model.moe_shared_experts)]
            tensors += [
                Tensor(f"expert_{j}", model.expert_params(), routed_expert=True)
                for j in range(model.moe_experts)
            ]
        layers.append(Layer(f"layer_{i}", tuple(tensors)))
    head_el = (0 if model.tied_embeddings else model.vocab * h) + h
    layers.append(Layer("lm_head", (Tensor("lm_head", head_el),)))
    return tuple(layers)


@lru_cache(maxsize=64)
def _static(model: ModelArch) -> tuple[float, float, float, int]:
    """(total elements, routed-expert elements, largest layer elements, largest tensor elements)."""
    layers = model_layers(model)
    total = float(sum(layer.elements for layer in layers))
    routed = float(sum(t.elements for layer in layers for t in layer.tensors if t.routed_expert))
    return (
        total,
        routed,
        float(max(layer.elements for layer in layers)),
        max(t.elements for layer in layers for t in layer.tensors),
    )


@dataclass(frozen=True)
class Block:
    gpu_batch_size: int
    num_gpu_batches: int

    @property
    def sequences(self) -> int:
        return self.gpu_batch_size * self.num_gpu_batches


@dataclass(frozen=True)
class Case:
    """Everything fixed while the LP chooses fractions: model, hardware, lengths, dtypes, block, attention."""

    model: ModelArch
    gpu: Gpu
    host: HostProfile
    input_len: int
    output_len: int
    weights_dtype: str
    kv_dtype: str
    runtime: OffloadRuntime
    block: Block
    cpu_attention: bool


@dataclass(frozen=True)
class PassForms:
    """Affine forms of one pass. Channel c's time = base[c] . (x, 1) + sum over its roofline terms
    (channel index, forms) of max_i forms[i] . (x, 1)."""

    base: npt.NDArray[np.float64]  # (len(CHANNELS), NX + 1)
    maxes: tuple[tuple[int, npt.NDArray[np.float64]], ...]
    active: tuple[bool, ...]
    overhead_s: float
    repeats: float  # how many times this pass runs (1 for prefill, steps for a decode segment)
    label: str

    def channel_values(self, xc: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        vals = self.base @ xc
        for ci, forms_ in self.maxes:
            vals[ci] += float(np.max(forms_ @ xc))
        return vals


class _PassBuilder:
    """Accumulates channel forms of one pass without allocating an array per term."""

    def __init__(self) -> None:
        self.base = np.zeros((len(CHANNELS), NX + 1))
        self.maxes: list[tuple[int, npt.NDArray[np.float64]]] = []

    def add(self, channel: str, const: float = 0.0, **coef: float) -> None:
        row = self.base[_CH[channel]]
        row[CONST] += const
        for name, value in coef.items():
            row[_INDEX[name]] += value

    def add_max(self, channel: str, *forms_: Form) -> None:
        self.maxes.append((_CH[channel], np.vstack(forms_)))

    def build(self, overhead_s: float, repeats: float, label: str) -> PassForms:
        active = tuple(
            bool(np.any(self.base[i] != 0.0)) or any(ci == i for ci, _ in self.maxes)
            for i in range(len(CHANNELS))
        )
        return PassForms(self.base, tuple(self.maxes), active, overhead_s, repeats, label)


_CH = {c: i for i, c in enumerate(CHANNELS)}


@dataclass(frozen=True)
class MemoryForms:
    gpu: Form
    cpu: Form
    disk: Form
    gpu_capacity_bytes: float
    cpu_capacity_bytes: float
    disk_capacity_bytes: float
    rounding_slack_bytes: float = 0.0
    """kept free on CPU and disk in the LP so that rounding weights to whole tensors cannot overflow them"""
    weight_buffer_lp_bytes: float = 0.0
    """double buffer of streamed weights in the LP: 2*(1-w_gpu)*largest layer (realisation re-checks it)"""


@dataclass(frozen=True)
class CaseForms:
    passes: tuple[PassForms, ...]
    memory: MemoryForms
    weights_bytes: float
    kv_bytes: float
    act_bytes: float
    overlap_efficiency: float
    layers: tuple[Layer, ...] = field(repr=False, default=())


def _touched_fraction(model: ModelArch, tokens: float) -> float:
    """Expected share of routed experts a layer reads for `tokens` tokens (uniform top-k routing)."""
    if not model.is_moe:
        return 1.0
    return float(1.0 - (1.0 - model.moe_top_k / model.moe_experts) ** max(tokens, 1.0))


@lru_cache(maxsize=256)
def decode_segments(input_len: int, output_len: int, count: int = 4) -> tuple[tuple[float, float], ...]:
    """(steps, mean context) of up to `count` equal segments of the output_len-1 decode steps."""
    steps = output_len - 1
    if steps <= 0:
        return ()
    k = min(count, steps)
    edges = np.linspace(0, steps, k + 1).round().astype(int)
    segs = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if b > a:
            # step i (1-based) attends to input_len + i tokens
            segs.append((float(b - a), input_len + (a + 1 + b) / 2.0))
    return tuple(segs)


def build_forms(case: Case, segments: int = 4) -> CaseForms:
    """Affine time and memory forms for a fixed block; the LP and the evaluator both use these."""
    m, g, host, rt = case.model, case.gpu, case.host, case.runtime
    gbs, nb = case.block.gpu_batch_size, case.block.num_gpu_batches
    bls = gbs * nb
    s, n = case.input_len, case.output_len
    layers = model_layers(m)
    st = _static(m)
    nl = m.layers

    wbpe = weight_bytes_per_element(case.weights_dtype, rt)
    whbm = hbm_bytes_per_element(case.weights_dtype, rt)
    kbpe = weight_bytes_per_element(case.kv_dtype, rt)
    khbm = hbm_bytes_per_element(case.kv_dtype, rt)
    total_el, routed_el, largest_layer_el, largest_tensor_el = st
    w_bytes = total_el * wbpe
    embed_el = float(m.vocab * m.hidden)
    largest_layer_bytes = largest_layer_el * wbpe

    kv_el_tok = float(m.kv_elements_per_token())  # all layers
    kv_el_tok_layer = kv_el_tok / nl
    window = m.sliding_window
    ctx_total = s + n
    kv_ctx_cap = min(ctx_total, window) if window else ctx_total
    kv_total_bytes = bls * kv_ctx_cap * kv_el_tok * kbpe
    act_el_tok = float(m.hidden)  # one fp16 hidden state per token and layer boundary
    act_home_bytes = bls * s * act_el_tok * 2.0

    peak = g.peak_tflops("fp16") * 1e12 * rt.gemm_efficiency
    hbm = g.mem_bandwidth_gb_per_s * GB * rt.hbm_efficiency
    h2d = host.cpu_to_gpu_gb_per_s * GB
    d2h_act = host.gpu_to_cpu_gb_per_s * GB
    d2h_kv = d2h_act * rt.kv_store_d2h_efficiency
    dread = max(host.disk_to_cpu_gb_per_s, 1e-9) * GB
    dwrite_act = max(host.cpu_to_disk_gb_per_s, 1e-9) * GB
    dwrite_kv = dwrite_act * rt.kv_store_disk_efficiency
    cpu_bw = host.cpu_mem_bandwidth_gb_per_s * GB * rt.cpu_attention_efficiency
    cpu_flops = host.cpu_tflops * 1e12 * rt.cpu_attention_efficiency

    linear_el_per_token = (
        float(m.active_params) - embed_el - (0 if m.tied_embeddings else embed_el) - m.hidden
    )
    attn_width = m.heads * (m.v_head_dim if m.is_mla else m.head_dim)

    def gpu_linear_s(tokens_per_seq: float, sampled_per_seq: float) -> float:
        """All GPU batches' GEMMs of one pass: roofline of FLOPs vs weight bytes read from GPU memory."""
        tokens = gbs * tokens_per_seq
        flops = 2.0 * linear_el_per_token * tokens + 2.0 * embed_el * gbs * sampled_per_seq
        touched = _touched_fraction(m, tokens)
        read_el = (total_el - embed_el * (0 if m.tied_embeddings else 1)) - routed_el * (1.0 - touched)
        # the input embedding is a lookup, not a read of the whole table (tied: the head reads it)
        bytes_ = read_el * whbm + 2.0 * tokens * act_el_tok * 2.0 * nl
        return nb * max(flops / peak, bytes_ / hbm)

    def pass_forms(tokens_per_seq: float, ctx: float, repeats: float, label: str, prefill: bool) -> PassForms:
        t = tokens_per_seq
        ctx_eff = min(ctx, window) if window else ctx
        b = _PassBuilder()
        # --- weights: loaded once per block and layer
        b.add("cpu_to_gpu", w_cpu=w_bytes / h2d, w_disk=w_bytes / h2d)
        b.add("disk_read", w_disk=w_bytes / dread)
        b.add("gpu", gpu_linear_s(t, 1.0))
        # --- activations: each GPU batch loads its hidden state from home and stores the new one, per layer
        act = bls * t * act_el_tok * 2.0 * nl
        b.add("cpu_to_gpu", act_cpu=act / h2d, act_disk=act / h2d)
        b.add("gpu_to_cpu", act_cpu=act / d2h_act, act_disk=act / d2h_act)
        b.add("disk_read", act_disk=act / dread)
        b.add("disk_write", act_disk=act / dwrite_act)
        # --- KV cache: new entries stored to their home
        kv_new = bls * t * kv_el_tok * kbpe
        b.add("gpu_to_cpu", kv_cpu=kv_new / d2h_kv, kv_disk=kv_new / d2h_kv)
        if case.kv_dtype == "int4":  # quantising the new entries on the GPU before they are stored
            b.add("gpu", bls * t * kv_el_tok * rt.dequant_traffic_bytes_per_element / hbm)
        b.add("disk_write", kv_disk=kv_new / dwrite_kv)
        # --- attention
        if prefill:
            sq = t * t if rt.eager_attention else t * (t + 1) / 2.0
            att_flops = 4.0 * attn_width * sq * bls * nl
            score_bytes = (2.0 * 2.0 * m.heads * sq * bls * nl) if rt.eager_attention else 0.0
            b.add_max("gpu", form(att_flops / peak), form(score_bytes / hbm))
        else:
            kv_read_el = bls * ctx_eff * kv_el_tok  # elements attended by the whole block in this step
            att_flops = 4.0 * attn_width * ctx_eff * bls * nl
            if case.cpu_attention:
                b.add_max("gpu", form(kv_gpu=att_flops / peak), form(kv_gpu=kv_read_el * khbm / hbm))
                b.add_max(
                    "cpu",
                    form(kv_cpu=kv_read_el * 2.0 / cpu_bw, kv_disk=kv_read_el * 2.0 / cpu_bw),
                    form(kv_cpu=att_flops / cpu_flops, kv_disk=att_flops / cpu_flops),
                )
                # query to the CPU and attention output back, per token and layer
                qo = bls * t * attn_width * 2.0 * nl
                b.add("gpu_to_cpu", kv_cpu=qo / d2h_act, kv_disk=qo / d2h_act)
                b.add("cpu_to_gpu", kv_cpu=qo / h2d, kv_disk=qo / h2d)
            else:
                b.add_max("gpu", form(att_flops / peak), form(kv_read_el * khbm / hbm))
                kv_read = kv_read_el * kbpe
                b.add("cpu_to_gpu", kv_cpu=kv_read / h2d, kv_disk=kv_read / h2d)
            b.add("disk_read", kv_disk=bls * ctx_eff * kv_el_tok * kbpe / dread)
        return b.build(rt.layer_overhead_s * nl * nb, repeats, label)

    passes = [pass_forms(float(s), float(s), 1.0, "prefill", True)]
    for steps, ctx in decode_segments(s, n, segments):
        passes.append(pass_forms(1.0, ctx, steps, f"decode@{ctx:.0f}", False))

    memory = _memory_forms(
        case,
        w_bytes,
        kv_total_bytes,
        act_home_bytes,
        largest_layer_bytes,
        largest_tensor_el,
        kv_el_tok_layer,
        kbpe,
        kv_ctx_cap,
    )
    return CaseForms(
        passes=tuple(passes),
        memory=memory,
        weights_bytes=w_bytes,
        kv_bytes=kv_total_bytes,
        act_bytes=act_home_bytes,
        overlap_efficiency=rt.overlap_efficiency,
        layers=layers,
    )


def gpu_workspace_bytes(case: Case, kv_ctx: float) -> float:
    """Peak working buffers of one GPU batch: the max over ops never live together (not their sum)."""
    m, gbs, s = case.model, case.block.gpu_batch_size, case.input_len
    rt = case.runtime
    kv_layer = m.kv_elements_per_token() / m.layers
    qkv_width = (m.heads + 2 * m.kv_heads) * m.head_dim
    width = (
        m.moe_top_k * m.moe_intermediate + m.moe_shared_experts * m.moe_intermediate
        if m.is_moe
        else (m.intermediate)
    )
    hidden = 3.0 * gbs * s * m.hidden * 2.0  # input, residual and output hidden of the batch
    scores = (2.0 * gbs * m.heads * s * s * 2.0) if rt.eager_attention else gbs * m.heads * s * 4.0
    prefill = max(
        scores + gbs * s * kv_layer * 2.0 * 2.0,  # + this layer's new K,V (fp16 before compression)
        gbs * s * width * 2.0 * (2.0 if m.gated_mlp else 1.0),
        gbs * s * qkv_width * 2.0,
        gbs * m.vocab * 4.0,
    )
    decode = max(2.0 * gbs * m.heads * kv_ctx * 2.0, gbs * m.vocab * 4.0)
    kv_dequant = (gbs * kv_ctx * kv_layer * 2.0) if case.kv_dtype == "int4" else 0.0
    return hidden + max(prefill, decode + kv_dequant)


def _memory_forms(
    case: Case,
    w_bytes: float,
    kv_total: float,
    act_home: float,
    largest_layer: float,
    largest_tensor_el: int,
    kv_el_tok_layer: float,
    kbpe: float,
    kv_ctx_cap: float,
) -> MemoryForms:
    rt, gbs = case.runtime, case.block.gpu_batch_size
    work = gpu_workspace_bytes(case, kv_ctx_cap)
    dequant = (
        largest_tensor_el * 2.0 if (case.weights_dtype == "int4" and rt.dequant_materialises_fp16) else 0.0
    )
    # double buffer of streamed weights: this layer's offloaded part is in use while the next one loads
    wbuf = 2.0 * largest_layer
    gpu = form(work + dequant + wbuf, w_gpu=w_bytes - wbuf, kv_gpu=kv_total, act_gpu=act_home)
    kv_batch_layer = gbs * kv_ctx_cap * kv_el_tok_layer * kbpe
    if not case.cpu_attention:
        # GPU attention over offloaded KV: one layer of one GPU batch in use while the next one loads
        gpu = gpu + form(2.0 * kv_batch_layer, kv_gpu=-2.0 * kv_batch_layer)
    cpu = form(w_cpu=w_bytes, kv_cpu=kv_total, act_cpu=act_home)
    # disk-resident data is staged through (pinned) host buffers, double-buffered
    cpu = cpu + form(w_disk=2.0 * largest_layer, kv_disk=2.0 * kv_batch_layer)
    if case.cpu_attention:
        # CPU attention widens one layer of one batch's KV to fp32 while it works
        cpu = cpu + form(gbs * kv_ctx_cap * kv_el_tok_layer * 4.0)
    disk = form(w_disk=w_bytes, kv_disk=kv_total, act_disk=act_home)
    gpu_cap = (case.gpu.memory_gb - rt.gpu_reserve_gb) * GB
    cpu_cap = (case.host.cpu_mem_gb - rt.cpu_reserve_gb) * GB
    return MemoryForms(
        gpu=gpu,
        cpu=cpu,
        disk=disk,
        gpu_capacity_bytes=gpu_cap,
        cpu_capacity_bytes=cpu_cap,
        disk_capacity_bytes=case.host.disk_gb * GB,
        weight_buffer_lp_bytes=wbuf,
        rounding_slack_bytes=largest_tensor_el * weight_bytes_per_element(case.weights_dtype, rt),
    )


@dataclass(frozen=True)
class PassTimes:
    label: str
    seconds: float  # one pass
    repeats: float
    channels: dict[str, float]

    @property
    def bottleneck(self) -> str:
        return max(sorted(self.channels), key=lambda c: self.channels[c])


def pass_seconds(channels: dict[str, float], overlap_efficiency: float) -> float:
    """Concurrent channels: the slowest one, plus the part of the others that overlap fails to hide."""
    top = max(channels.values())
    return top + (1.0 - overlap_efficiency) * (sum(channels.values()) - top)


def evaluate_passes(forms: CaseForms, x: npt.NDArray[np.float64]) -> tuple[PassTimes, ...]:
    """Time of each pass for fractions x (see `pass_seconds`) plus the fixed overhead."""
    out = []
    eta = forms.overlap_efficiency
    xc = np.append(x, 1.0)
    for p in forms.passes:
        v = p.channel_values(xc)
        vals = {c: float(v[i]) for i, c in enumerate(CHANNELS)}
        out.append(PassTimes(p.label, pass_seconds(vals, eta) + p.overhead_s, p.repeats, vals))
    return tuple(out)
