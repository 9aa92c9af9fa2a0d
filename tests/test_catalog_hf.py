"""Reading HF config.json files of every supported family into ModelArch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.hf import load_hf_config, parse_hf_config
from catalog.loader import load_catalog
from planner.errors import InputError
from tests.conftest import ROOT

HF = ROOT / "tests" / "data" / "catalog" / "hf"
ARCH_FIELDS = (
    "architecture",
    "layers",
    "hidden",
    "heads",
    "kv_heads",
    "head_dim",
    "intermediate",
    "vocab",
    "max_position",
    "gated_mlp",
    "tied_embeddings",
    "attn_bias",
    "moe_experts",
    "moe_top_k",
    "moe_shared_experts",
    "moe_intermediate",
    "moe_dense_layers",
    "q_lora_rank",
    "kv_lora_rank",
    "qk_rope_dim",
    "qk_nope_dim",
    "v_head_dim",
    "sliding_window",
    "extra_params",
    "fp8_weight_block",
)
CATALOG_TWIN = {
    "llama-3.1-8b": "llama-3.1-8b",
    "mistral-7b": "mistral-7b",
    "mixtral-8x7b": "mixtral-8x7b",
    "qwen2.5-7b": "qwen2.5-7b",
    "opt-6.7b": "opt-6.7b",
    "gpt-j-6b": "gpt-j-6b",
    "falcon-180b": "falcon-180b",
    "deepseek-v3": "deepseek-v3",
    "qwen3-8b": "qwen3-8b",
    "qwen3-30b-a3b": "qwen3-30b-a3b",
    "llama-4-scout": "llama-4-scout",
    "llama-4-maverick": "llama-4-maverick",
    "gemma-2-9b": "gemma-2-9b",
    "gemma-3-1b": "gemma-3-1b",
    "gemma-3-4b": "gemma-3-4b",
    "gpt-oss-20b": "gpt-oss-20b",
    "phi-2": "phi-2",
    "phi-3-mini-4k": "phi-3-mini-4k",
    "phi-3.5-moe": "phi-3.5-moe",
    "deepseek-r1-distill-qwen-7b": "deepseek-r1-distill-qwen-7b",
}
REQUIRED = {
    "llama-3.1-8b": (
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "vocab_size",
    ),
    "mixtral-8x7b": ("num_local_experts", "num_experts_per_tok"),
    "opt-6.7b": ("hidden_size", "num_hidden_layers", "num_attention_heads", "ffn_dim", "vocab_size"),
    "gpt-j-6b": ("n_embd", "n_layer", "n_head", "vocab_size"),
    "falcon-180b": ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_kv_heads", "vocab_size"),
    "deepseek-v3": (
        "kv_lora_rank",
        "qk_rope_head_dim",
        "qk_nope_head_dim",
        "v_head_dim",
        "n_routed_experts",
        "num_experts_per_tok",
        "moe_intermediate_size",
        "intermediate_size",
    ),
}


def config(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((HF / name / "config.json").read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("folder", sorted(CATALOG_TWIN))
def test_config_matches_catalog_entry(folder: str) -> None:
    loaded = load_hf_config(HF / folder)
    twin = load_catalog().models[CATALOG_TWIN[folder]]
    assert loaded.id == folder
    for f in ARCH_FIELDS:
        assert getattr(loaded, f) == getattr(twin, f), f
    assert loaded.total_params == twin.total_params
    assert loaded.source == f"HF config.json at {HF / folder / 'config.json'}"


def test_falcon_multi_query_and_defaults() -> None:
    m = load_hf_config(HF / "falcon-7b" / "config.json")
    assert (m.kv_heads, m.head_dim, m.intermediate, m.max_position) == (1, 64, 4 * 4544, 2048)
    assert not m.gated_mlp and m.tied_embeddings
    assert m.total_params / 1e9 == pytest.approx(7.0, rel=0.02)


def test_opt_keeps_hf_repo_from_name_or_path() -> None:
    assert load_hf_config(HF / "opt-6.7b").hf_repo == "facebook/opt-6.7b"


def test_model_type_is_used_without_architectures(tmp_path: Path) -> None:
    cfg = config("mistral-7b")
    del cfg["architectures"]
    m = parse_hf_config(cfg, tmp_path / "config.json")
    assert m.architecture == "MistralForCausalLM" and m.sliding_window == 4096


@pytest.mark.parametrize(("folder", "field"), [(f, k) for f, ks in sorted(REQUIRED.items()) for k in ks])
def test_missing_field_names_file_and_field(tmp_path: Path, folder: str, field: str) -> None:
    cfg = config(folder)
    del cfg[field]
    path = tmp_path / folder / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(cfg), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_hf_config(path)
    assert err.value.where == str(path)
    assert f"missing field {field!r}" in err.value.message


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ({"architectures": ["GemmaForCausalLM"]}, "unsupported architecture 'GemmaForCausalLM'; supported:"),
        ({"architectures": "LlamaForCausalLM"}, "must be a list"),
        ({"hidden_size": "4096"}, "field 'hidden_size' must be an integer"),
        ({"num_hidden_layers": 0}, "field 'num_hidden_layers' must be >= 1"),
        ({"tie_word_embeddings": "no"}, "must be true or false"),
        ({"num_key_value_heads": 5}, "multiple of kv_heads"),
        ({"hidden_size": 4097}, "not a multiple of num_attention_heads"),
    ],
)
def test_bad_values(tmp_path: Path, patch: dict[str, Any], needle: str) -> None:
    cfg = {**config("llama-3.1-8b"), **patch}
    with pytest.raises(InputError) as err:
        parse_hf_config(cfg, tmp_path / "config.json")
    assert needle in err.value.message
    assert err.value.where == str(tmp_path / "config.json")


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_hf_config(tmp_path / "config.json")
    (tmp_path / "config.json").write_text("{ not json", encoding="utf-8")
    with pytest.raises(InputError, match="not JSON: .* at line 1"):
        load_hf_config(tmp_path)
    (tmp_path / "config.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(InputError, match="must hold a JSON object"):
        load_hf_config(tmp_path)
    opt = {**config("opt-6.7b"), "word_embed_proj_dim": 512}
    with pytest.raises(InputError, match="word_embed_proj_dim"):
        parse_hf_config(opt, tmp_path / "config.json")


@st.composite
def llama_configs(draw: st.DrawFn) -> dict[str, Any]:
    kv = draw(st.sampled_from([1, 2, 4, 8]))
    heads = kv * draw(st.integers(1, 16))
    head_dim = draw(st.sampled_from([32, 64, 128, 256]))
    return {
        "architectures": [
            draw(st.sampled_from(["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"]))
        ],
        "hidden_size": heads * head_dim,
        "num_hidden_layers": draw(st.integers(1, 128)),
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "intermediate_size": draw(st.integers(1, 65536)),
        "vocab_size": draw(st.integers(1, 262144)),
        "max_position_embeddings": draw(st.integers(1, 1 << 20)),
        "tie_word_embeddings": draw(st.booleans()),
    }


@settings(max_examples=60, deadline=None)
@given(llama_configs())
def test_dense_configs_round_trip_and_count(cfg: dict[str, Any]) -> None:
    m = parse_hf_config(cfg, Path("x/config.json"))
    h, layers, heads, kv = (
        cfg["hidden_size"],
        cfg["num_hidden_layers"],
        cfg["num_attention_heads"],
        cfg["num_key_value_heads"],
    )
    d, inter, vocab = h // heads, cfg["intermediate_size"], cfg["vocab_size"]
    assert (m.layers, m.hidden, m.heads, m.kv_heads, m.head_dim) == (layers, h, heads, kv, d)
    # independent count: q,o (h x heads*d), k,v (h x kv*d), qkv bias for Qwen2, 3-matrix MLP, 2 norms
    bias = (heads + 2 * kv) * d if m.architecture == "Qwen2ForCausalLM" else 0
    per_layer = 2 * h * heads * d + 2 * h * kv * d + bias + 3 * h * inter + 2 * h
    embed = vocab * h * (1 if cfg["tie_word_embeddings"] else 2)
    assert m.total_params == layers * per_layer + embed + h == m.active_params


@settings(max_examples=40, deadline=None)
@given(
    llama_configs(),
    st.sampled_from(
        ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size"]
    ),
)
def test_any_required_field_missing_is_named(cfg: dict[str, Any], field: str) -> None:
    del cfg[field]
    with pytest.raises(InputError) as err:
        parse_hf_config(cfg, Path("m/config.json"))
    assert repr(field) in err.value.message and err.value.where == "m/config.json"


def test_nested_text_config_fields_are_named_with_their_path(tmp_path: Path) -> None:
    cfg = config("llama-4-scout")
    del cfg["text_config"]["num_local_experts"]
    with pytest.raises(InputError, match="missing field 'text_config.num_local_experts'"):
        parse_hf_config(cfg, tmp_path / "config.json")
    cfg = {**config("gemma-3-4b"), "text_config": 5}
    with pytest.raises(InputError, match="field 'text_config' must be a mapping"):
        parse_hf_config(cfg, tmp_path / "config.json")


def test_new_families_read_their_own_fields() -> None:
    scout, maverick = load_hf_config(HF / "llama-4-scout"), load_hf_config(HF / "llama-4-maverick")
    assert (scout.moe_experts, scout.moe_shared_experts, scout.moe_dense_layers) == (16, 1, 0)
    assert (maverick.moe_experts, maverick.moe_dense_layers, maverick.intermediate) == (128, 24, 16384)
    assert scout.extra_params > 0 and scout.active_params < scout.total_params - scout.extra_params
    gemma = load_hf_config(HF / "gemma-3-4b")  # text_config relies on Gemma3TextConfig defaults
    assert (gemma.heads, gemma.kv_heads, gemma.head_dim, gemma.vocab) == (8, 4, 256, 262208)
    assert gemma.tied_embeddings
    oss = load_hf_config(HF / "gpt-oss-20b")
    assert (oss.moe_experts, oss.moe_top_k, oss.head_dim, oss.attn_bias) == (32, 4, 64, True)
    phi2 = load_hf_config(HF / "phi-2")
    assert not phi2.gated_mlp and phi2.attn_bias


def test_fp8_weight_block_is_read_from_the_quantization_config(tmp_path: Path) -> None:
    """DeepSeek-V3 ships FP8 weights with a scale per 128 x 128 block; a per-tensor FP8 checkpoint, an MXFP4
    one (gpt-oss) and an unquantised one have no weight block."""
    assert load_hf_config(HF / "deepseek-v3").fp8_weight_block == 128
    assert load_hf_config(HF / "gpt-oss-20b").fp8_weight_block == 0
    assert load_hf_config(HF / "llama-3.1-8b").fp8_weight_block == 0
    cfg = config("llama-3.1-8b")
    cfg["quantization_config"] = {"quant_method": "fp8", "activation_scheme": "static"}
    (tmp_path / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    assert load_hf_config(tmp_path).fp8_weight_block == 0


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("meta-llama/Llama-2-7b-chat-hf", "llama-2-7b"),
        ("meta-llama/Meta-Llama-3.1-8B-Instruct", "llama-3.1-8b"),
        ("mistralai/Mistral-7B-Instruct-v0.3", "mistral-7b-v0.3"),
        ("Qwen/Qwen2.5-72B-Instruct", "qwen2.5-72b"),
        ("Qwen/Qwen3-30B-A3B-Instruct-2507", "qwen3-30b-a3b"),
        ("google/gemma-3-27b-it", "gemma-3-27b"),
        ("meta-llama/Llama-4-Scout-17B-16E-Instruct", "llama-4-scout"),
        ("01-ai/Yi-34B-Chat", "yi-34b"),
        ("microsoft/Phi-4-mini-instruct", "phi-4-mini"),
    ],
)
def test_fine_tune_repo_ids_resolve_to_the_base_architecture(ref: str, expected: str) -> None:
    from catalog.loader import resolve_model

    assert resolve_model(load_catalog(), ref, "models[0].model").id == expected


def test_unknown_repo_ids_are_still_errors() -> None:
    from catalog.loader import resolve_model
    from planner.errors import CatalogError

    with pytest.raises(CatalogError, match="unknown model 'someone/Llama-9-7B-Instruct'"):
        resolve_model(load_catalog(), "someone/Llama-9-7B-Instruct", "models[0].model")
