"""Read a local Hugging Face `config.json` into a ModelArch.

Supported families (by `architectures[0]`, else `model_type`): Llama (and Yi), Mistral, Mixtral,
Qwen2, OPT, GPT-J, Falcon (incl. the legacy RW configs) and DeepSeek-V2/V3. Fields that
transformers gives a default are defaulted the same way (e.g. `num_key_value_heads` = heads); a
missing field without a default, or a value of the wrong type, is an InputError naming the file and
the field. No network access: only the file is read.
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
}


MAX_CONFIG_INT = 2**31 - 1  # architecture integers (sizes, counts, positions) beyond int32 are not real


class _Reader:
    """Typed access to config fields with errors that name the file and the field."""

    def __init__(self, cfg: Config, path: Path) -> None:
        self.cfg = cfg
        self.path = path

    def error(self, message: str) -> InputError:
        return InputError(message, where=str(self.path))

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
                raise self.error(f"field {name!r} must be an integer, got {shown_value(value)}")
            if value < minimum:
                raise self.error(f"field {name!r} must be >= {minimum}, got {shown_value(value)}")
            if value > MAX_CONFIG_INT:  # no layer count, width or context window is this large
                raise self.error(f"field {name!r} must be <= {MAX_CONFIG_INT:,}, got {shown_value(value)}")
            return int(value)
        if default is not None:
            return default
        raise self.error(f"missing field {names[0]!r}" + (f" (or {', '.join(map(repr, names[1:]))})"
                                                            if len(names) > 1 else ""))

    def opt_int(self, name: str) -> int | None:
        return self.get_int(name, default=0, minimum=0) if self.cfg.get(name) is not None else None

    def get_bool(self, name: str, default: bool) -> bool:
        value = self.cfg.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(f"field {name!r} must be true or false, got {value!r}")
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


_PARSERS: dict[str, Callable[[_Reader], dict[str, Any]]] = {
    "llama": lambda r: _llama_like(r, "llama"),
    "mistral": lambda r: _llama_like(r, "mistral"),
    "mixtral": lambda r: _llama_like(r, "mixtral"),
    "qwen2": lambda r: _llama_like(r, "qwen2"),
    "opt": _opt,
    "gptj": _gptj,
    "falcon": _falcon,
    "deepseek": _deepseek,
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


def parse_hf_config(cfg: Config, path: Path, model_id: str | None = None) -> ModelArch:
    """A ModelArch from an already-parsed config mapping (`path` is used in messages and the id)."""
    family, arch = _family(cfg, path)
    fields = _PARSERS[family](_Reader(cfg, path))
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
