"""Loading, validation, overlays and lookups of the catalog."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from catalog.loader import (
    DATA_DIR,
    get_gpu,
    get_offering,
    load_catalog,
    resolve_model,
    shipped_catalog,
)
from common import files
from planner.errors import CatalogError, InputError
from planner.spec import CatalogSection
from tests.conftest import ROOT
from tests.support import gpuplan

HF = ROOT / "tests" / "data" / "catalog" / "hf"
SKY = ROOT / "tests" / "data" / "catalog" / "skypilot"


def write(path: Path, doc: object) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


ONPREM_GPU = {
    "id": "h100-sxm-onprem",
    "name": "H100 SXM (our rack)",
    "vendor": "nvidia",
    "family": "hopper",
    "memory_gb": 80,
    "mem_bandwidth_gb_per_s": 3350,
    "tflops": {"bf16": 989.4, "fp8": 1978.9},
    "interconnect": "nvlink",
    "interconnect_gb_per_s": 450,
    "pcie_gb_per_s": 64,
}
ONPREM_OFFERING = {
    "cloud": "onprem",
    "region": "dc1",
    "instance_type": "dgx-h100",
    "gpu": "h100-sxm",
    "gpus_per_instance": 8,
    "price_usd_per_hour": 18.5,
    "available_instances": 3,
    "notes": "amortised: 36-month depreciation + power",
}


def test_shipped_catalog_is_cached() -> None:
    assert load_catalog() is load_catalog() is shipped_catalog()


def test_import_reads_no_files() -> None:
    code = (
        "import catalog, catalog.loader, planner.commands.catalog\n"
        "assert catalog.loader.shipped_catalog.cache_info().currsize == 0\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


def test_overlay_adds_onprem_and_overrides_price(tmp_path: Path) -> None:
    base = load_catalog()
    overlay = write(
        tmp_path / "ours.yaml",
        {
            "schema_version": 1,
            "gpus": [ONPREM_GPU],
            "offerings": [
                ONPREM_OFFERING,
                {"id": "aws:us-east-1:p5.48xlarge", "price_usd_per_hour": 40.0, "available_instances": 2},
            ],
        },
    )
    cat = load_catalog(overlays=(overlay,))
    assert cat.gpus["h100-sxm"] == base.gpus["h100-sxm"]
    onprem = cat.offerings["onprem:dc1:dgx-h100"]
    assert onprem.available_instances == 3 and onprem.price_usd_per_hour == 18.5
    assert "ours.yaml" in onprem.source
    p5 = cat.offerings["aws:us-east-1:p5.48xlarge"]
    shipped_p5 = base.offerings["aws:us-east-1:p5.48xlarge"]
    assert p5.price_usd_per_hour == 40.0 and p5.available_instances == 2
    assert p5.spot_price_usd_per_hour == shipped_p5.spot_price_usd_per_hour  # untouched fields kept
    assert "overridden by" in p5.source and "price_usd_per_hour" in p5.source
    assert cat.gpus["h100-sxm-onprem"].tflops["fp8"] == 1978.9
    assert cat.version.startswith(base.version + ".u")
    assert load_catalog(overlays=(overlay,)).version == cat.version
    # the shipped catalog is not changed by an overlay
    assert load_catalog().offerings["aws:us-east-1:p5.48xlarge"].price_usd_per_hour == 55.04


def test_gpu_override_merges_tflops(tmp_path: Path) -> None:
    overlay = write(
        tmp_path / "o.yaml", {"schema_version": 1, "gpus": [{"id": "h100-sxm", "tflops": {"fp8": 1500}}]}
    )
    gpu = load_catalog(overlays=(overlay,)).gpus["h100-sxm"]
    assert gpu.tflops == {"bf16": 989.4, "fp16": 989.4, "fp8": 1500, "int8": 1978.9}
    assert "overridden by" in gpu.source and "(tflops)" in gpu.source


def test_inline_section_and_files_relative_to_spec(tmp_path: Path) -> None:
    (tmp_path / "cat").mkdir()
    write(tmp_path / "cat" / "prices.yaml", {"schema_version": 1, "offerings": [ONPREM_OFFERING]})
    section = CatalogSection(
        files=("cat/prices.yaml",),
        offerings=({"id": "onprem:dc1:dgx-h100", "price_usd_per_hour": 17.0},),
        models=(
            {
                "id": "llama-3.1-8b-long",
                "hf_repo": "",
                "architecture": "LlamaForCausalLM",
                "layers": 32,
                "hidden": 4096,
                "heads": 32,
                "kv_heads": 8,
                "head_dim": 128,
                "intermediate": 14336,
                "vocab": 128256,
                "max_position": 131072,
            },
        ),
    )
    cat = load_catalog(inline=section, base_dir=tmp_path)
    assert cat.offerings["onprem:dc1:dgx-h100"].price_usd_per_hour == 17.0  # inline wins over spec files
    assert cat.models["llama-3.1-8b-long"].total_params == cat.models["llama-3.1-8b"].total_params
    # --catalog files are applied last
    cli = write(
        tmp_path / "cli.yaml",
        {"schema_version": 1, "offerings": [{"id": "onprem:dc1:dgx-h100", "price_usd_per_hour": 16.0}]},
    )
    assert load_catalog((cli,), section, tmp_path).offerings["onprem:dc1:dgx-h100"].price_usd_per_hour == 16.0


def test_overlay_model_from_hf_config_and_skypilot_csv(tmp_path: Path) -> None:
    shutil.copy(SKY / "lambda_vms.csv", tmp_path / "vms.csv")
    overlay = write(
        tmp_path / "o.yaml",
        {
            "schema_version": 1,
            "models": [{"id": "my-llama", "hf_config": str(HF / "llama-3.1-8b" / "config.json")}],
            "skypilot_csv": [
                {"path": "vms.csv", "cloud": "lambda", "gpus": ["h100-sxm", "b200"], "as_of": "2025-01"}
            ],
            "offerings": [{"id": "lambda:us-east-1:gpu_8x_b200_sxm6", "available_instances": 1}],
        },
    )
    with files.run_scope(allow=[HF]):  # the HF config lies outside the overlay's folder: allowed explicitly
        cat = load_catalog(overlays=(overlay,))
    assert cat.models["my-llama"].total_params == cat.models["llama-3.1-8b"].total_params
    b200 = cat.offerings["lambda:us-east-1:gpu_8x_b200_sxm6"]
    assert b200.available_instances == 1 and b200.as_of == "2025-01" and "SkyPilot" in b200.source
    h100 = cat.offerings["lambda:us-east-1:gpu_8x_h100_sxm5"]
    assert h100.as_of == "2025-01"
    # rows filtered out by `gpus` keep the shipped entry
    assert "SkyPilot catalog vms.csv" not in cat.offerings["lambda:us-east-1:gpu_1x_a10"].source


def test_overlay_unknown_gpu_is_a_did_you_mean_error(tmp_path: Path) -> None:
    bad = write(
        tmp_path / "bad.yaml", {"schema_version": 1, "offerings": [{**ONPREM_OFFERING, "gpu": "h100"}]}
    )
    with pytest.raises(CatalogError) as err:
        load_catalog(overlays=(bad,))
    assert "bad.yaml" in err.value.render() and "h100-sxm" in err.value.render()


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"gpus": []}, "missing schema_version"),
        ({"schema_version": 2, "gpus": []}, "unsupported schema_version 2"),
        ({"schema_version": 1, "gpu": []}, "did you mean 'gpus'"),
        ({"schema_version": 1, "gpus": {"id": "x"}}, "must be a list"),
        ({"schema_version": 1, "gpus": ["t4"]}, "gpus[0] must be a mapping"),
        ({"schema_version": 1, "gpus": [{"id": "H100 Custom"}]}, "lower-case"),
        ({"schema_version": 1, "gpus": [{"id": "t4", "memory_gb": -1}]}, "memory_gb"),
        ({"schema_version": 1, "gpus": [{"id": "t4", "colour": "green"}]}, "colour: unknown field"),
        (
            {"schema_version": 1, "offerings": [{"id": "aws:us-east-1:p9.huge", "price_usd_per_hour": 1}]},
            "unknown offering",
        ),
        (
            {"schema_version": 1, "offerings": [{**ONPREM_OFFERING, "id": "onprem:dc2:dgx-h100"}]},
            "must be <cloud>:<region>:<instance_type>",
        ),
        (
            {"schema_version": 1, "offerings": [{"cloud": "x", "region": "y", "instance_type": "z"}]},
            "gpu: Field required",
        ),
        ({"schema_version": 1, "models": [{"id": "m", "hf_config": "nowhere/config.json"}]}, "not found"),
        ({"schema_version": 1, "skypilot_csv": [{"path": "vms.csv"}]}, "needs `path`"),
        (
            {"schema_version": 1, "skypilot_csv": [{"path": "vms.csv", "cloud": "aws", "region": "x"}]},
            "did you mean 'regions'",
        ),
        ([1, 2], "must be a YAML mapping"),
    ],
)
def test_bad_overlays_name_file_and_problem(tmp_path: Path, doc: object, needle: str) -> None:
    path = write(tmp_path / "overlay.yaml", doc)
    with pytest.raises(InputError) as err:
        load_catalog(overlays=(path,))
    assert needle in err.value.render()
    assert "overlay.yaml" in err.value.render()


def test_unreadable_overlays(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(overlays=(tmp_path / "missing.yaml",))
    (tmp_path / "bad.yaml").write_text("schema_version: 1\ngpus: [\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="malformed YAML at line"):
        load_catalog(overlays=(tmp_path / "bad.yaml",))
    (tmp_path / "empty.yaml").write_text("\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="empty"):
        load_catalog(overlays=(tmp_path / "empty.yaml",))


def test_as_of_written_as_a_date_is_kept_as_text(tmp_path: Path) -> None:
    path = tmp_path / "o.yaml"
    path.write_text(
        "schema_version: 1\nofferings:\n  - id: aws:us-east-1:p5.48xlarge\n"
        "    price_usd_per_hour: 41\n    as_of: 2025-06-01\n",
        encoding="utf-8",
    )
    assert load_catalog(overlays=(path,)).offerings["aws:us-east-1:p5.48xlarge"].as_of == "2025-06-01"


def _data_copy(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("gpus.yaml", "offerings.yaml", "models.yaml"):
        shutil.copy(DATA_DIR / name, data / name)
    return data


def test_shipped_engines_and_hosts_are_optional(tmp_path: Path) -> None:
    data = _data_copy(tmp_path)
    cat = shipped_catalog(data)
    assert cat.engines == () and cat.hosts == {}
    write(
        data / "hosts.yaml",
        {
            "schema_version": 1,
            "hosts": [
                {
                    "id": "flexgen-t4",
                    "cpu_mem_gb": 208,
                    "disk_gb": 1500,
                    "cpu_to_gpu_gb_per_s": 12.89,
                    "gpu_to_cpu_gb_per_s": 0.97,
                    "disk_to_cpu_gb_per_s": 0.473,
                    "cpu_to_disk_gb_per_s": 0.746,
                    "cpu_tflops": 1.0,
                    "cpu_mem_bandwidth_gb_per_s": 100,
                    "source": "FlexGen cost model",
                    "as_of": "2023",
                }
            ],
        },
    )
    write(
        data / "engines.yaml",
        {
            "schema_version": 1,
            "engines": [
                {
                    "engine": "vllm",
                    "family": "hopper",
                    "compute_efficiency": 0.6,
                    "bandwidth_efficiency": 0.8,
                    "step_overhead_ms": 2.0,
                    "fit": "test",
                    "source": "test",
                    "as_of": "2025",
                }
            ],
        },
    )
    shipped_catalog.cache_clear()
    cat2 = shipped_catalog(data)
    assert "flexgen-t4" in cat2.hosts and cat2.engines[0].family == "hopper"
    assert cat2.version != cat.version
    shipped_catalog.cache_clear()


def test_shipped_duplicates_and_missing_files_are_errors(tmp_path: Path) -> None:
    data = _data_copy(tmp_path)
    doc = yaml.safe_load((data / "gpus.yaml").read_text(encoding="utf-8"))
    doc["gpus"].append(doc["gpus"][0])
    write(data / "gpus.yaml", doc)
    with pytest.raises(CatalogError, match="duplicate gpu id 'v100'"):
        shipped_catalog(data)
    shutil.copy(DATA_DIR / "gpus.yaml", data / "gpus.yaml")
    (data / "models.yaml").unlink()
    with pytest.raises(CatalogError, match="missing"):
        shipped_catalog(data)
    shipped_catalog.cache_clear()


def test_lookups() -> None:
    cat = load_catalog()
    assert get_gpu(cat, "H100-SXM").id == "h100-sxm"
    with pytest.raises(CatalogError, match="did you mean 'h100-nvl' or 'h100-pcie' or 'h100-sxm'") as err:
        get_gpu(cat, "h100", "--gpu")
    assert err.value.where == "--gpu"
    with pytest.raises(CatalogError, match="did you mean"):
        get_gpu(cat, "h1000", where="models[0].gpu")
    assert get_offering(cat, "AWS:us-east-1:p5.48xlarge", "include").instance_type == "p5.48xlarge"
    with pytest.raises(CatalogError, match="unknown offering"):
        get_offering(cat, "aws:us-east-1:p5.48xl", "offerings.include[0]")


def test_resolve_model(tmp_path: Path) -> None:
    cat = load_catalog()
    assert resolve_model(cat, "Llama-3.1-8B", "--model").id == "llama-3.1-8b"
    assert resolve_model(cat, "meta-llama/Llama-3.3-70B-Instruct", "--model").id == "llama-3.3-70b"
    by_folder = resolve_model(cat, "llama-3.1-8b", "--model", base_dir=HF)  # an id wins over a folder
    assert by_folder.source.startswith("HF config.json of")
    from_file = resolve_model(cat, str(HF / "mixtral-8x7b"), "--model")
    assert from_file.id == "mixtral-8x7b" and from_file.source.startswith("HF config.json at")
    assert resolve_model(cat, "deepseek-v3/config.json", "--model", base_dir=HF).is_mla
    with pytest.raises(CatalogError, match="did you mean 'llama-3-8b'"):
        resolve_model(cat, "llama3-8b", "models[0].model")
    with pytest.raises(InputError, match="not found"):
        resolve_model(cat, "./nope/config.json", "models[0].model", base_dir=tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no config.json"):
        resolve_model(cat, "empty", "--model", base_dir=tmp_path)


FORMER_GPU_NAMES = {"mem_bandwidth_gb_per_s": "mem_bandwidth_gbps", "interconnect_gb_per_s": "interconnect_gbps",
                    "pcie_gb_per_s": "pcie_gbps"}


def test_an_overlay_with_the_former_gbps_names_gives_the_same_estimate(tmp_path: Path) -> None:
    """`*_gbps` (GB/s) became `*_gb_per_s`; an overlay written with the former names still loads, as the
    same numbers, through the CLI."""
    former = {FORMER_GPU_NAMES.get(k, k): v for k, v in ONPREM_GPU.items()}
    assert set(former) - set(ONPREM_GPU) == set(FORMER_GPU_NAMES.values())
    runs = []
    for name, gpu in (("new.yaml", ONPREM_GPU), ("former.yaml", former)):
        overlay = write(tmp_path / name, {"schema_version": 1, "gpus": [gpu]})
        args = ("estimate", "--model", "llama-3.1-8b", "--gpu", "h100-sxm-onprem", "--input-len", "1000")
        runs.append(gpuplan(*args, "--output-len", "200", "--rate", "2", "-f", "json", "--catalog", overlay))
    assert runs[0].code == runs[1].code == 0, runs
    assert runs[0].out == runs[1].out
    assert '"pcie_gb_per_s": 64.0' in runs[0].out and "gbps" not in runs[0].out


def test_a_former_name_overrides_a_shipped_field_and_both_names_are_refused(tmp_path: Path) -> None:
    overlay = write(tmp_path / "o.yaml", {"schema_version": 1, "gpus": [{"id": "h100-sxm", "pcie_gbps": 10}],
                                          "offerings": [{"id": "aws:us-east-1:p5.48xlarge", "disk_read_gbps": 2.5}]})
    cat = load_catalog(overlays=(overlay,))
    assert cat.gpus["h100-sxm"].pcie_gb_per_s == 10
    assert "(pcie_gb_per_s)" in cat.gpus["h100-sxm"].source
    assert cat.offerings["aws:us-east-1:p5.48xlarge"].disk_read_gb_per_s == 2.5
    both = write(tmp_path / "both.yaml",
                 {"schema_version": 1, "gpus": [{**ONPREM_GPU, "pcie_gbps": 64}]})
    run = gpuplan("catalog", "gpus", "--catalog", both)
    assert run.code == 2, run
    assert "both.yaml" in run.err and "give pcie_gb_per_s or its former name pcie_gbps, not both" in run.err


def test_a_host_profile_with_the_former_names_loads_as_the_same_host(tmp_path: Path) -> None:
    shipped = load_catalog().hosts["flexgen-t4"]
    fields = shipped.model_dump(exclude={"id", "source"})
    former = {k.replace("_gb_per_s", "_gbps"): v for k, v in fields.items()}
    assert sum(k.endswith("_gbps") for k in former) == 5
    overlay = write(tmp_path / "h.yaml", {"schema_version": 1, "hosts": [{"id": "t4-copy", **former}]})
    host = load_catalog(overlays=(overlay,)).hosts["t4-copy"]
    assert host.model_dump(exclude={"id", "source"}) == fields
