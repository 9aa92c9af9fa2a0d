"""The shipped catalog data: complete, cited, consistent with its conventions and with published sizes."""

from __future__ import annotations

import re

import pytest
import yaml

from catalog.loader import DATA_DIR, DATA_RELEASE, SHIPPED_FILES, load_catalog, shipped_catalog
from catalog.types import Catalog, Gpu, ModelArch, Offering

ID_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*$")


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog()


def test_sizes(cat: Catalog) -> None:
    assert len(cat.gpus) >= 20
    assert len(cat.offerings) >= 60
    assert len(cat.models) >= 15


@pytest.mark.parametrize("name", [n for n in SHIPPED_FILES if (DATA_DIR / n).exists()])
def test_every_data_file_is_versioned(name: str) -> None:
    doc = yaml.safe_load((DATA_DIR / name).read_text(encoding="utf-8"))
    assert doc["schema_version"] == 1


def test_data_files_name_no_machine_paths() -> None:
    for name in ("gpus.yaml", "offerings.yaml", "models.yaml", "SOURCES.md"):
        text = (DATA_DIR / name).read_text(encoding="utf-8")
        assert "/work/" not in text and "shared/data" not in text, name


def test_every_entry_is_cited(cat: Catalog) -> None:
    entries: list[Gpu | Offering | ModelArch] = [
        *cat.gpus.values(),
        *cat.offerings.values(),
        *cat.models.values(),
    ]
    for e in entries:
        assert e.source.strip() and e.as_of.strip(), e.id
        assert re.match(r"^\d{4}(-\d{2})?$", e.as_of), (e.id, e.as_of)


REQUIRED_GPUS = [
    "t4",
    "a10g",
    "a10",
    "l4",
    "l40s",
    "a100-40gb",
    "a100-40gb-pcie",
    "a100-80gb",
    "a100-80gb-pcie",
    "h100-sxm",
    "h100-pcie",
    "h100-nvl",
    "h200",
    "gh200",
    "b200",
    "b300",
    "rtx-4090",
    "v100",
    "v100-32gb",
    "mi250x",
    "mi300x",
    "mi325x",
    "tpu-v5e",
]
REQUIRED_MODELS = [
    "llama-3.1-8b",
    "llama-3.3-70b",
    "llama-3.1-70b",
    "llama-3.1-405b",
    "llama-2-7b",
    "llama-2-13b",
    "llama-2-70b",
    "llama-3-70b",
    "llama-3.2-1b",
    "llama-3.2-3b",
    "gpt-j-6b",
    "falcon-180b",
    "mixtral-8x7b",
    "mixtral-8x22b",
    "opt-6.7b",
    "opt-30b",
    "opt-175b",
    "yi-34b",
    "deepseek-v3",
    "qwen2.5-7b",
    "qwen2.5-14b",
    "qwen2.5-32b",
    "qwen2.5-72b",
    "mistral-7b",
    "mistral-7b-v0.3",
    "mistral-nemo-12b",
]


def test_required_ids_present(cat: Catalog) -> None:
    assert set(REQUIRED_GPUS) <= set(cat.gpus), set(REQUIRED_GPUS) - set(cat.gpus)
    assert set(REQUIRED_MODELS) <= set(cat.models), set(REQUIRED_MODELS) - set(cat.models)
    for i in [*cat.gpus, *cat.models]:
        assert ID_RE.match(i), i


# Published sizes (billions) from each model's card or paper; derived counts must be within 2%.
PUBLISHED_B = {
    "llama-3.1-8b": (8.03, None),
    "llama-3-8b": (8.03, None),
    "llama-3.3-70b": (70.6, None),
    "llama-3.1-70b": (70.6, None),
    "llama-3-70b": (70.6, None),
    "llama-3.1-405b": (405.9, None),
    "llama-3.2-1b": (1.24, None),
    "llama-3.2-3b": (3.21, None),
    "llama-2-7b": (6.74, None),
    "llama-2-13b": (13.0, None),
    "llama-2-70b": (69.0, None),
    "mistral-7b": (7.24, None),
    "mistral-7b-v0.3": (7.25, None),
    "mistral-nemo-12b": (12.2, None),
    "mixtral-8x7b": (46.7, 12.9),
    "mixtral-8x22b": (141.0, 39.0),
    "qwen2.5-7b": (7.61, None),
    "qwen2.5-14b": (14.7, None),
    "qwen2.5-32b": (32.5, None),
    "qwen2.5-72b": (72.7, None),
    "yi-34b": (34.4, None),
    "deepseek-v3": (671.0, 37.0),
    "qwen2-57b-a14b": (57.4, 14.2),  # model card: 57B total, 14B activated
    "opt-6.7b": (6.7, None),
    "opt-30b": (30.0, None),
    "opt-175b": (175.0, None),
    "gpt-j-6b": (6.05, None),
    "falcon-180b": (180.0, None),
    # Qwen3 model cards ("Number of Parameters"; MoE: total and activated)
    "qwen3-0.6b": (0.6, None),
    "qwen3-1.7b": (1.7, None),
    "qwen3-4b": (4.0, None),
    "qwen3-8b": (8.2, None),
    "qwen3-14b": (14.8, None),
    "qwen3-32b": (32.8, None),
    "qwen3-30b-a3b": (30.5, 3.3),
    "qwen3-235b-a22b": (235.0, 22.0),
    # Llama 4 model card: 17B active, 109B / 400B total (with the vision encoder)
    "llama-4-scout": (109.0, 17.0),
    "llama-4-maverick": (400.0, 17.0),
    # Gemma 2 report (embedding + non-embedding), Gemma 3 report Table 1 (+ 417M vision encoder; active =
    # the text model)
    "gemma-2-2b": (2.61, None),
    "gemma-2-9b": (9.24, None),
    "gemma-2-27b": (27.23, None),
    "gemma-3-1b": (1.0, None),
    "gemma-3-4b": (4.30, 3.88),
    "gemma-3-12b": (12.19, 11.77),
    "gemma-3-27b": (27.43, 27.02),
    # DeepSeek-R1 distills: sizes on the model pages (safetensors)
    "deepseek-r1-distill-qwen-1.5b": (1.78, None),
    "deepseek-r1-distill-qwen-7b": (7.62, None),
    "deepseek-r1-distill-qwen-14b": (14.8, None),
    "deepseek-r1-distill-qwen-32b": (32.8, None),
    "deepseek-r1-distill-llama-8b": (8.03, None),
    "deepseek-r1-distill-llama-70b": (70.6, None),
    # Phi model cards / model pages
    "phi-2": (2.78, None),
    "phi-3-mini-4k": (3.82, None),
    "phi-3-medium-4k": (13.96, None),
    "phi-4": (14.7, None),
    "phi-4-mini": (3.84, None),
    "phi-3.5-moe": (41.9, 6.6),
}
# The gpt-oss model card counts active parameters without the input embedding table (a lookup, not a
# matmul); ModelArch counts it, so the check subtracts vocab x hidden from the derived figure.
GPT_OSS_B = {"gpt-oss-20b": (20.91, 3.61), "gpt-oss-120b": (116.83, 5.13)}


@pytest.mark.parametrize("model_id", sorted(GPT_OSS_B))
def test_gpt_oss_counts_match_the_model_card(cat: Catalog, model_id: str) -> None:
    total_b, active_b = GPT_OSS_B[model_id]
    m = cat.models[model_id]
    assert m.total_params / 1e9 == pytest.approx(total_b, rel=0.02)
    assert (m.active_params - m.vocab * m.hidden) / 1e9 == pytest.approx(active_b, rel=0.02)


@pytest.mark.parametrize("model_id", sorted(PUBLISHED_B))
def test_parameter_counts_match_published(cat: Catalog, model_id: str) -> None:
    total_b, active_b = PUBLISHED_B[model_id]
    m = cat.models[model_id]
    assert m.total_params / 1e9 == pytest.approx(total_b, rel=0.02)
    assert m.active_params / 1e9 == pytest.approx(active_b if active_b else total_b, rel=0.02)


def test_every_model_has_a_published_size() -> None:
    assert set(shipped_catalog().models) == set(PUBLISHED_B) | set(GPT_OSS_B)


def test_model_sources_cite_a_config(cat: Catalog) -> None:
    for m in cat.models.values():
        if m.hf_repo:
            assert f"HF config.json of {m.hf_repo}" in m.source, m.id


def test_gpu_conventions(cat: Catalog) -> None:
    for g in cat.gpus.values():
        assert set(g.tflops) <= {"bf16", "fp16", "fp8", "int8", "fp4"}, g.id
        assert g.peak_tflops("bf16") > 0
        if g.family in ("volta", "turing"):
            assert "bf16" not in g.tflops and "fp16" in g.tflops, g.id
        if "fp8" in g.tflops:
            assert g.family in ("ada", "hopper", "blackwell", "cdna3"), g.id
        if "fp4" in g.tflops:
            assert g.family == "blackwell" or g.id == "mi355x", g.id
        if "bf16" in g.tflops and "fp8" in g.tflops:  # 2% slack: the L40S sheet gives 733 vs 2 x 362.05
            assert g.tflops["fp8"] == pytest.approx(2 * g.tflops["bf16"], rel=0.02), g.id
        assert g.interconnect in ("nvlink", "xgmi", "pcie", "none")
        if g.interconnect == "nvlink":
            assert g.interconnect_gb_per_s is not None
        assert g.pcie_gb_per_s in (16, 32, 64) or g.id == "gh200", g.id


def test_bandwidths_are_per_direction(cat: Catalog) -> None:
    # NVIDIA quotes H100 NVLink 900 GB/s and PCIe Gen5 128 GB/s as both-direction sums.
    assert cat.gpus["h100-sxm"].link_gb_per_s() == 450
    assert cat.gpus["h100-sxm"].pcie_gb_per_s == 64
    assert cat.gpus["a100-80gb"].link_gb_per_s() == 300
    assert cat.gpus["b200"].link_gb_per_s() == 900
    assert cat.gpus["l4"].link_gb_per_s() == cat.gpus["l4"].pcie_gb_per_s == 32


def test_offerings_are_consistent(cat: Catalog) -> None:
    clouds = {o.cloud for o in cat.offerings.values()}
    assert {"aws", "gcp", "azure", "lambda", "runpod"} <= clouds
    for oid, o in cat.offerings.items():
        assert oid == f"{o.cloud}:{o.region}:{o.instance_type}"
        assert o.gpu in cat.gpus
        assert o.price_usd_per_hour > 0
        if o.spot_price_usd_per_hour is not None:
            assert o.spot_price_usd_per_hour < o.price_usd_per_hour, oid
        if o.uncertain:
            assert "UNCERTAIN" in o.notes, oid


def test_gcp_prices_are_attachment_plus_vm_part(cat: Catalog) -> None:
    # The worked example in the price notes: a2-highgpu-1g = 2.93391 + 0.73948.
    a2 = cat.offerings["gcp:us-central1:a2-highgpu-1g"]
    assert a2.price_usd_per_hour == pytest.approx(3.67339)
    assert a2.spot_price_usd_per_hour == pytest.approx(1.80385)
    for o in cat.offerings.values():
        if o.cloud == "gcp" and not o.gpu.startswith("tpu"):
            assert "Price composed" in o.notes, o.id


def test_flagged_rows_are_uncertain(cat: Catalog) -> None:
    for oid in (
        "gcp:us-central1:a3-highgpu-8g",
        "azure:eastus:Standard_ND96isr_H100_v5",
        "azure:eastus:Standard_NC40ads_H100_v5",
    ):
        assert cat.offerings[oid].uncertain, oid
    assert cat.offerings["azure:eastus:Standard_ND96isr_H100_v5"].gpus_per_instance == 8
    assert not cat.offerings["aws:us-east-1:p5.48xlarge"].uncertain


def test_version_is_deterministic(cat: Catalog) -> None:
    assert re.match(rf"^{re.escape(DATA_RELEASE)}\+[0-9a-f]{{8}}$", cat.version)
    shipped_catalog.cache_clear()
    assert load_catalog().version == cat.version
