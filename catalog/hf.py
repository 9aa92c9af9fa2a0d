"""Read a local Hugging Face `config.json` into a ModelArch.

Supported families (by `architectures[0]`, else `model_type`): Llama (and Yi), Llama 4, Mistral,
Mixtral, Qwen2 (and the DeepSeek-R1 Qwen distills), Qwen3, Qwen3-MoE, Gemma 2, Gemma 3, gpt-oss,
Phi (phi-2), Phi-3/Phi-4, Phi-3.5-MoE, OPT, GPT-J, Falcon (incl. the legacy RW configs) and
DeepSeek-V2/V3. Fields that transformers gives a default are defaulted the same way (e.g.
`num_key_value_heads` = heads; Gemma 3's text_config leaves out head counts and vocab); a missing
field without a default, or a value of the wrong type, is an InputError naming the file and the field.
No network access: only the file is read.

Multimodal checkpoints (Llama 4, Gemma 3 4B+) keep the language model in `text_config`; their vision
tower is counted in `extra_params` (a ViT from `vision_config`: layers x (4 h^2 + 2 h i), patch and
position embeddings, and a projector to the text width), so the weights' memory is right while
per-token work stays the decoder's. Layers that alternate sliding-window and full attention (Gemma
2/3, gpt-oss) are read as all full attention: KV memory is then an upper bound.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from catalog.types import ModelArch
from common.errors import InputError
from common.files import read_json, shown_value

Config = Mapping[str, Any]

ARCHITECTURES: dict[str, str] = {
    "LlamaForCausalLM": "llama",
    "YiForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "MixtralForCausalLM": "mixtral",
    "Qwen2ForCausalLM": "qwen2",
    "OPTForCausalLM": "opt",
    "GPTJForCausalLM": "gptj",
    "FalconForCausalLM": "falcon",
    "RWForCausalLM": "falcon",
    "DeepseekV2ForCausalLM": "deepseek",
    "DeepseekV3ForCausalLM": "deepseek",
    "Qwen3ForCausalLM": "qwen3",
    "Qwen3MoeForCausalLM": "qwen3_moe",
    "Llama4ForConditionalGeneration": "llama4",
    "Llama4ForCausalLM": "llama4",
    "Gemma2ForCausalLM": "gemma2",
    "Gemma3ForCausalLM": "gemma3",
    "Gemma3ForConditionalGeneration": "gemma3",
    "GptOssForCausalLM": "gpt_oss",
    "PhiForCausalLM": "phi",
    "Phi3ForCausalLM": "phi3",
    "PhiMoEForCausalLM": "phimoe",
}
MODEL_TYPES: dict[str, str] = {
    "llama": "llama",
    "mistral": "mistral",
    "mixtral": "mixtral",
    "qwen2": "qwen2",
    "opt": "opt",
    "gptj": "gptj",
    "falcon": "falcon",
    "RefinedWeb": "falcon",
    "RefinedWebModel": "falcon",
    "deepseek_v2": "deepseek",
    "deepseek_v3": "deepseek",
    "qwen3": "qwen3",
    "qwen3_moe": "qwen3_moe",
    "llama4": "llama4",
    "llama4_text": "llama4",
    "gemma2": "gemma2",
    "gemma3": "gemma3",
    "gemma3_text": "gemma3",
    "gpt_oss": "gpt_oss",
    "phi": "phi",
    "phi3": "phi3",
    "phimoe": "phimoe",
}
_FAMILY_ARCH = {
    "llama": "LlamaForCausalLM",
    "mistral": "MistralForCausalLM",
    "mixtral": "MixtralForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "opt": "OPTForCausalLM",
    "gptj": "GPTJForCausalLM",
    "falcon": "FalconForCausalLM",
    "deepseek": "DeepseekV3ForCausalLM",
    "qwen3": "Qwen3ForCausalLM",
    "qwen3_moe": "Qwen3MoeForCausalLM",
    "llama4": "Llama4ForConditionalGeneration",
    "gemma2": "Gemma2ForCausalLM",
    "gemma3": "Gemma3ForConditionalGeneration",
    "gpt_oss": "GptOssForCausalLM",
    "phi": "PhiForCausalLM",
    "phi3": "Phi3ForCausalLM",
    "phimoe": "PhiMoEForCausalLM",
}


MAX_CONFIG_INT = 2**31 - 1  # architecture integers (sizes, counts, positions) beyond int32 are not real


class _Reader:
    """Typed access to config fields with errors that name the file and the field."""

    def __init__(self, cfg: Config, path: Path, prefix: str = "", defaults: Config | None = None) -> None:
        self.cfg = {**(defaults or {}), **cfg}
        self.path = path
        self.prefix = prefix

    def error(self, message: str) -> InputError:
        return InputError(message, where=str(self.path))

    def sub(self, name: str, defaults: Config | None = None) -> _Reader:
        """A reader of the nested mapping `name` (e.g. text_config), naming fields `name.field`."""
        value = self.cfg.get(name)
        if not isinstance(value, dict):
            got = "missing" if value is None else f"a {type(value).__name__}"
            raise self.error(f"field {name!r} must be a mapping of the language model's settings, got {got}")
        return _Reader(value, self.path, f"{self.prefix}{name}.", defaults)

    def get_int(self, *names: str, default: int | None = None, minimum: int = 1) -> int:
        """The first of `names` present and non-null; `default` if none is; else an error."""
        for name in names:
            value = self.cfg.get(name)
            if value is None:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or (isinstance(value, float) and not value.is_integer())  # also NaN and +-inf
            ):
                raise self.error(f"field {self.prefix + name!r} must be an integer, got {shown_value(value)}")
            if value < minimum:
                raise self.error(f"field {self.prefix + name!r} must be >= {minimum}, got {shown_value(value)}")
            if value > MAX_CONFIG_INT:  # no layer count, width or context window is this large
                raise self.error(
                    f"field {self.prefix + name!r} must be <= {MAX_CONFIG_INT:,}, got {shown_value(value)}"
                )
            return int(value)
        if default is not None:
            return default
        raise self.error(f"missing field {self.prefix + names[0]!r}" + (
            f" (or {', '.join(repr(self.prefix + n) for n in names[1:])})" if len(names) > 1 else ""))

    def opt_int(self, name: str) -> int | None:
        return self.get_int(name, default=0, minimum=0) if self.cfg.get(name) is not None else None

    def get_bool(self, name: str, default: bool) -> bool:
        value = self.cfg.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(f"field {self.prefix + name!r} must be true or false, got {value!r}")
        return value


def _common(r: _Reader, hidden: int, heads: int) -> int:
    """head_dim: explicit, else hidden / heads (which must divide)."""
    if r.cfg.get("head_dim") is not None:
        return r.get_int("head_dim")
    if hidden % heads:
        raise r.error(f"hidden_size {hidden} is not a multiple of num_attention_heads {heads}; give head_dim")
    return hidden // heads


def _llama_like(r: _Reader, family: str) -> dict[str, Any]:
    hidden = r.get_int("hidden_size")
    heads = r.get_int("num_attention_heads")
    default_max_pos = {"llama": 2048, "qwen2": 32768}.get(family, 4096 * 32)
    out: dict[str, Any] = {
        "layers": r.get_int("num_hidden_layers"),
        "hidden": hidden,
        "heads": heads,
        "kv_heads": r.get_int("num_key_value_heads", default=heads),
        "head_dim": _common(r, hidden, heads),
        "intermediate": r.get_int("intermediate_size"),
        "vocab": r.get_int("vocab_size"),
        "max_position": r.get_int("max_position_embeddings", default=default_max_pos),
        "tied_embeddings": r.get_bool("tie_word_embeddings", False),
        "attn_bias": True if family == "qwen2" else r.get_bool("attention_bias", False),
    }
    if family in ("mistral", "mixtral"):
        out["sliding_window"] = r.opt_int("sliding_window") or None
    if family == "qwen2" and r.get_bool("use_sliding_window", False):
        out["sliding_window"] = r.opt_int("sliding_window") or None
    if family == "mixtral":
        out.update(
            moe_experts=r.get_int("num_local_experts"),
            moe_top_k=r.get_int("num_experts_per_tok"),
            moe_intermediate=out["intermediate"],
        )
    return out


def _opt(r: _Reader) -> dict[str, Any]:
    hidden = r.get_int("hidden_size")
    heads = r.get_int("num_attention_heads")
    proj = r.get_int("word_embed_proj_dim", default=hidden)
    if proj != hidden:
        raise r.error(f"field 'word_embed_proj_dim' ({proj}) differs from hidden_size ({hidden}); "
                      "OPT models with embedding projections (opt-350m) are not supported")
    return {
        "layers": r.get_int("num_hidden_layers"),
        "hidden": hidden,
        "heads": heads,
        "kv_heads": heads,
        "head_dim": _common(r, hidden, heads),
        "intermediate": r.get_int("ffn_dim"),
        "vocab": r.get_int("vocab_size"),
        "max_position": r.get_int("max_position_embeddings", default=2048),
        "gated_mlp": False,
        "tied_embeddings": r.get_bool("tie_word_embeddings", True),
        "attn_bias": r.get_bool("enable_bias", True),
    }


def _gptj(r: _Reader) -> dict[str, Any]:
    hidden = r.get_int("n_embd")
    heads = r.get_int("n_head")
    if hidden % heads:
        raise r.error(f"n_embd {hidden} is not a multiple of n_head {heads}")
    return {
        "layers": r.get_int("n_layer"),
        "hidden": hidden,
        "heads": heads,
        "kv_heads": heads,
        "head_dim": hidden // heads,
        "intermediate": r.get_int("n_inner", default=4 * hidden),
        "vocab": r.get_int("vocab_size"),
        "max_position": r.get_int("n_positions", default=2048),
        "gated_mlp": False,
        "tied_embeddings": r.get_bool("tie_word_embeddings", False),
    }


def _falcon(r: _Reader) -> dict[str, Any]:
    hidden = r.get_int("hidden_size", "n_embed")
    heads = r.get_int("num_attention_heads", "n_head")
    if hidden % heads:
        raise r.error(f"hidden_size {hidden} is not a multiple of num_attention_heads {heads}")
    if r.get_bool("new_decoder_architecture", False):
        kv_heads = r.get_int("num_kv_heads", "n_head_kv")
    elif r.get_bool("multi_query", True):
        kv_heads = 1
    else:
        kv_heads = heads
    return {
        "layers": r.get_int("num_hidden_layers", "n_layer"),
        "hidden": hidden,
        "heads": heads,
        "kv_heads": kv_heads,
        "head_dim": hidden // heads,
        "intermediate": r.get_int("ffn_hidden_size", default=4 * hidden),
        "vocab": r.get_int("vocab_size"),
        "max_position": r.get_int("max_position_embeddings", default=2048),
        "gated_mlp": False,
        "tied_embeddings": r.get_bool("tie_word_embeddings", True),
        "attn_bias": r.get_bool("bias", False),
    }


def _deepseek(r: _Reader) -> dict[str, Any]:
    hidden = r.get_int("hidden_size")
    heads = r.get_int("num_attention_heads")
    if r.get_int("moe_layer_freq", default=1) != 1:
        raise r.error("field 'moe_layer_freq' other than 1 is not supported")
    rope = r.get_int("qk_rope_head_dim")
    nope = r.get_int("qk_nope_head_dim")
    return {
        "layers": r.get_int("num_hidden_layers"),
        "hidden": hidden,
        "heads": heads,
        "kv_heads": r.get_int("num_key_value_heads", default=heads),
        "head_dim": rope + nope,
        "intermediate": r.get_int("intermediate_size"),
        "vocab": r.get_int("vocab_size"),
        "max_position": r.get_int("max_position_embeddings", default=4096),
        "tied_embeddings": r.get_bool("tie_word_embeddings", False),
        "moe_experts": r.get_int("n_routed_experts"),
        "moe_top_k": r.get_int("num_experts_per_tok"),
        "moe_shared_experts": r.get_int("n_shared_experts", default=0, minimum=0),
        "moe_intermediate": r.get_int("moe_intermediate_size"),
        "moe_dense_layers": r.get_int("first_k_dense_replace", default=0, minimum=0),
        "q_lora_rank": r.get_int("q_lora_rank", default=0, minimum=0),
        "kv_lora_rank": r.get_int("kv_lora_rank"),
        "qk_rope_dim": rope,
        "qk_nope_dim": nope,
        "v_head_dim": r.get_int("v_head_dim"),
    }


def _dense_fields(r: _Reader, *, bias: bool = False) -> dict[str, Any]:
    """The fields every Llama-style decoder shares (hidden, heads, kv heads, head_dim, FFN, vocab)."""
    hidden = r.get_int("hidden_size")
    heads = r.get_int("num_attention_heads")
    return {
        "layers": r.get_int("num_hidden_layers"),
        "hidden": hidden,
        "heads": heads,
        "kv_heads": r.get_int("num_key_value_heads", default=heads),
        "head_dim": _common(r, hidden, heads),
        "intermediate": r.get_int("intermediate_size"),
        "vocab": r.get_int("vocab_size"),
        "max_position": r.get_int("max_position_embeddings", default=4096),
        "tied_embeddings": r.get_bool("tie_word_embeddings", False),
        "attn_bias": r.get_bool("attention_bias", bias),
    }


def _qwen3(r: _Reader, moe: bool) -> dict[str, Any]:
    out = _dense_fields(r)
    out["max_position"] = r.get_int("max_position_embeddings", default=32768)
    if r.get_bool("use_sliding_window", False):
        out["sliding_window"] = r.opt_int("sliding_window") or None
    if moe:
        step = r.get_int("decoder_sparse_step", default=1)
        dense_only = r.cfg.get("mlp_only_layers") or []
        if not isinstance(dense_only, list):
            raise r.error(f"field {r.prefix + 'mlp_only_layers'!r} must be a list of layer indices")
        layers = out["layers"]
        moe_layers = [i for i in range(layers) if i not in dense_only and (i + 1) % step == 0]
        out.update(
            moe_experts=r.get_int("num_experts"),
            moe_top_k=r.get_int("num_experts_per_tok"),
            moe_intermediate=r.get_int("moe_intermediate_size"),
            moe_dense_layers=layers - len(moe_layers),
        )
    return out


def _vit_params(r: _Reader, text_hidden: int, *, adapter: bool) -> int:
    """Parameters of a ViT vision tower and its projector to the text width (approximate: norms and
    biases of the tower counted, class tokens and gating scalars not)."""
    h = r.get_int("hidden_size")
    inter = r.get_int("intermediate_size")
    layers = r.get_int("num_hidden_layers")
    patch = r.get_int("patch_size", default=14)
    image = r.get_int("image_size", default=336)
    channels = r.get_int("num_channels", default=3)
    per_layer = 4 * h * h + 2 * h * inter + (4 * h + inter + h) + 4 * h  # weights, biases, two LayerNorms
    positions = (image // patch) ** 2
    embed = channels * patch * patch * h + positions * h
    if adapter:  # Llama 4: an MLP adapter to vision_output_dim, then a linear map to the text width
        out_dim = r.get_int("projector_output_dim", "vision_output_dim")
        projector = h * out_dim + out_dim * text_hidden
    else:  # Gemma 3: one linear map from the tower's width to the text width
        projector = h * text_hidden
    return layers * per_layer + embed + projector


def _llama4(r: _Reader) -> dict[str, Any]:
    text = r.sub("text_config") if "text_config" in r.cfg else r
    out = _dense_fields(text)
    out["max_position"] = text.get_int("max_position_embeddings", default=131072)
    layers = out["layers"]
    listed = text.cfg.get("moe_layers")
    if isinstance(listed, list) and listed:
        moe_layers = len(listed)
    else:
        moe_layers = len(range(text.get_int("interleave_moe_layer_step", default=1) - 1, layers,
                               text.get_int("interleave_moe_layer_step", default=1)))
    out.update(
        intermediate=text.get_int("intermediate_size_mlp", default=out["intermediate"]),
        moe_experts=text.get_int("num_local_experts"),
        moe_top_k=text.get_int("num_experts_per_tok", default=1),
        moe_shared_experts=1,
        moe_intermediate=text.get_int("intermediate_size"),
        moe_dense_layers=layers - moe_layers,
    )
    if "vision_config" in r.cfg and r is not text:
        out["extra_params"] = _vit_params(r.sub("vision_config"), out["hidden"], adapter=True)
    return out


GEMMA3_TEXT_DEFAULTS: dict[str, Any] = {
    "vocab_size": 262208,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "head_dim": 256,
    "max_position_embeddings": 131072,
    "tie_word_embeddings": True,
}
"""transformers' Gemma3TextConfig defaults: the published 4B config's text_config relies on them."""

SIGLIP_DEFAULTS: dict[str, Any] = {"image_size": 896, "patch_size": 14}
"""Gemma 3's SigLIP vision tower (896 px, 14 px patches), where vision_config leaves them out."""


def _gemma(r: _Reader, version: int) -> dict[str, Any]:
    nested = version == 3 and "text_config" in r.cfg
    text = r.sub("text_config", GEMMA3_TEXT_DEFAULTS) if nested else (
        _Reader(r.cfg, r.path, r.prefix, GEMMA3_TEXT_DEFAULTS if version == 3 else None))
    out = _dense_fields(text)
    out["tied_embeddings"] = text.get_bool("tie_word_embeddings", True)
    out["max_position"] = text.get_int("max_position_embeddings", default=8192)
    if nested and "vision_config" in r.cfg:
        out["extra_params"] = _vit_params(r.sub("vision_config", SIGLIP_DEFAULTS), out["hidden"], adapter=False)
    return out


def _gpt_oss(r: _Reader) -> dict[str, Any]:
    out = _dense_fields(r, bias=True)
    out["max_position"] = r.get_int("max_position_embeddings", default=131072)
    out.update(
        moe_experts=r.get_int("num_local_experts"),
        moe_top_k=r.get_int("num_experts_per_tok", "experts_per_token"),
        moe_intermediate=r.get_int("intermediate_size"),
    )
    return out


def _phi(r: _Reader, kind: str) -> dict[str, Any]:
    out = _dense_fields(r, bias=kind != "phi3")
    out["max_position"] = r.get_int("max_position_embeddings", default=2048 if kind == "phi" else 4096)
    if kind == "phi":
        out["gated_mlp"] = False  # fc1 -> gelu -> fc2
        out["attn_bias"] = True
    if kind == "phimoe":
        out.update(
            moe_experts=r.get_int("num_local_experts"),
            moe_top_k=r.get_int("num_experts_per_tok"),
            moe_intermediate=out["intermediate"],
        )
    return out


_PARSERS: dict[str, Callable[[_Reader], dict[str, Any]]] = {
    "llama": lambda r: _llama_like(r, "llama"),
    "mistral": lambda r: _llama_like(r, "mistral"),
    "mixtral": lambda r: _llama_like(r, "mixtral"),
    "qwen2": lambda r: _llama_like(r, "qwen2"),
    "opt": _opt,
    "gptj": _gptj,
    "falcon": _falcon,
    "deepseek": _deepseek,
    "qwen3": lambda r: _qwen3(r, moe=False),
    "qwen3_moe": lambda r: _qwen3(r, moe=True),
    "llama4": _llama4,
    "gemma2": lambda r: _gemma(r, 2),
    "gemma3": lambda r: _gemma(r, 3),
    "gpt_oss": _gpt_oss,
    "phi": lambda r: _phi(r, "phi"),
    "phi3": lambda r: _phi(r, "phi3"),
    "phimoe": lambda r: _phi(r, "phimoe"),
}


def _family(cfg: Config, path: Path) -> tuple[str, str]:
    """(family, architecture name) from `architectures`, falling back to `model_type`."""
    archs = cfg.get("architectures")
    if archs is not None and (not isinstance(archs, list) or not all(isinstance(a, str) for a in archs)):
        raise InputError(f"field 'architectures' must be a list of names, got {archs!r}", where=str(path))
    if archs:
        for arch in archs:
            if arch in ARCHITECTURES:
                return ARCHITECTURES[arch], arch
        raise InputError(
            f"unsupported architecture {archs[0]!r}; supported: {', '.join(sorted(ARCHITECTURES))}",
            where=str(path),
        )
    model_type = cfg.get("model_type")
    if isinstance(model_type, str) and model_type in MODEL_TYPES:
        fam = MODEL_TYPES[model_type]
        return fam, _FAMILY_ARCH[fam]
    if model_type is None:
        raise InputError("missing field 'architectures' (and no 'model_type')", where=str(path))
    raise InputError(
        f"unsupported model_type {model_type!r}; supported: {', '.join(sorted(MODEL_TYPES))}", where=str(path)
    )


def model_id_for(path: Path) -> str:
    """A catalog-style id from the file location: the folder name for `config.json`, else the stem."""
    name = path.parent.name if path.name == "config.json" else path.stem
    slug = re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-.")
    return slug or "hf-model"


def read_config(path: Path) -> dict[str, Any]:
    """The JSON object in `path` (a file or a folder holding config.json), or an InputError."""
    if path.is_dir():
        path = path / "config.json"
    cfg = read_json(path, "HF config.json")
    if not isinstance(cfg, dict):
        raise InputError(f"HF config.json must hold a JSON object, got {type(cfg).__name__}", where=str(path))
    return cfg


def _fp8_weight_block(cfg: Config) -> int:
    """The block of an FP8 checkpoint's weight scales (quantization_config.weight_block_size), else 0."""
    q = cfg.get("quantization_config")
    if not isinstance(q, dict) or q.get("quant_method") != "fp8":
        return 0
    block = q.get("weight_block_size")
    if isinstance(block, list) and block and all(isinstance(b, int) and b > 0 for b in block):
        return int(block[0])
    return 0


def parse_hf_config(cfg: Config, path: Path, model_id: str | None = None) -> ModelArch:
    """A ModelArch from an already-parsed config mapping (`path` is used in messages and the id)."""
    family, arch = _family(cfg, path)
    fields = _PARSERS[family](_Reader(cfg, path))
    fields["fp8_weight_block"] = _fp8_weight_block(cfg)
    repo = cfg.get("_name_or_path")
    try:
        return ModelArch(
            id=model_id or model_id_for(path),
            hf_repo=repo if isinstance(repo, str) else "",
            architecture=arch,
            source=f"HF config.json at {path}",
            as_of="local file",
            **fields,
        )
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg'].removeprefix('Value error, ')}"
            for e in err.errors()
        )
        raise InputError(f"invalid {arch} config: {problems}", where=str(path)) from None


def load_hf_config(path: Path) -> ModelArch:
    """A ModelArch from a local HF config.json (or a folder containing one)."""
    if path.is_dir():
        path = path / "config.json"
    return parse_hf_config(read_config(path), path)
