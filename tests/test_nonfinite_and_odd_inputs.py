"""Odd inputs that once slipped through: non-finite numbers in Mélange inputs, HF configs and catalog
overlays, odd keys in Mélange messages, Mélange GPU names with a memory size the GPU does not have, and
`gpuplan place` without highspy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from catalog.loader import shipped_catalog
from catalog.types import EngineProfile, Gpu, HostProfile, Offering
from planner.errors import InputError
from planner.melange import GPU_IDS, GPU_MEMORY_GB, catalog_gpu_id
from tests.support import BASE_SPEC, assert_user_error, gpuplan, spec_with, write_spec

ROOT = Path(__file__).resolve().parent.parent
MELANGE = ROOT / "tests" / "data" / "melange" / "example_head.json"
HF_8B = ROOT / "tests" / "data" / "catalog" / "hf" / "llama-3.1-8b" / "config.json"


# ------------------------------------------------------------------------------ planner/melange.py
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_melange_slice_factor_not_finite(tmp_path: Path, value: float) -> None:
    """`gpuplan import melange in.json` with "slice_factor": NaN / Infinity / -Infinity: exit 2 naming the
    field (was an internal error from int(nan) / int(inf))."""
    data = json.loads(MELANGE.read_text())
    data["slice_factor"] = value
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data))  # json writes NaN / Infinity, which json.loads reads back
    assert_user_error(gpuplan("import", "melange", path), "slice_factor", "integer >= 1", repr(value))


def test_melange_whole_float_slice_factor_is_accepted() -> None:
    from planner.melange_input import parse_melange

    data = json.loads(MELANGE.read_text())
    data["slice_factor"] = 2.0
    assert parse_melange(data).slice_factor == 2


def test_melange_key_with_a_line_break_stays_on_one_line() -> None:
    """Odd keys (a line break, a control character) are not repeated: the message stays on one line."""
    from planner.melange_input import parse_melange

    data = json.loads(MELANGE.read_text())
    with pytest.raises(InputError) as info:
        parse_melange({**data, "\x85": None, "a\nb": 1}, "in.json")
    text = info.value.render()
    assert len(text.splitlines()) == 1 and "2 unknown key(s)" in text and "a\nb" not in text, text


def test_melange_gpu_name_with_a_line_break_stays_on_one_line() -> None:
    from planner.melange_input import parse_melange

    data = json.loads(MELANGE.read_text())
    name = next(iter(data["gpu_info"]))
    data["gpu_info"]["A10G\nx"] = {**data["gpu_info"][name], "cost": -1}
    with pytest.raises(InputError) as info:
        parse_melange(data, "in.json")
    text = info.value.render()
    assert len(text.splitlines()) == 1 and "gpu_info['A10G\\nx'].cost" in text, text


def test_melange_unknown_memory_variant_is_not_mapped_to_another_gpu(tmp_path: Path) -> None:
    """A GPU named "A100-90GB" is an error with a did-you-mean, not the 80 GB part."""
    data = json.loads(MELANGE.read_text())
    data["gpu_info"]["A100-90GB"] = data["gpu_info"].pop("A100-80GB")
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data))
    assert_user_error(gpuplan("import", "melange", path), "A100-90GB", "did you mean", "'a100-80gb'")


@pytest.mark.parametrize(
    ("name", "gpu"),
    [
        ("A100-40GB-spot", "a100-40gb"),
        ("A100-80G", "a100-80gb"),
        ("H100-SXM-80GB", "h100-sxm"),
        ("T4-16GB", "t4"),
        ("V100-32GB-spot", "v100-32gb"),
        ("L4-2", "l4"),  # digits alone are not a memory size
    ],
)
def test_melange_names_with_the_right_memory_size_map(name: str, gpu: str) -> None:
    assert catalog_gpu_id(name) == gpu


@pytest.mark.parametrize("name", ["A100-90GB", "A100-90GB-spot", "H100-94GB", "T4-24G", "L4-2-48gb"])
def test_melange_names_with_a_wrong_memory_size_fail(name: str) -> None:
    with pytest.raises(InputError, match="did you mean"):
        catalog_gpu_id(name, "in.json")


def test_melange_memory_table_matches_the_catalog() -> None:
    """GPU_MEMORY_GB is a copy of the shipped catalog's memory_gb for every GPU a Mélange name maps to."""
    catalog = shipped_catalog()
    assert set(GPU_MEMORY_GB) == set(GPU_IDS.values())
    assert {g: catalog.gpus[g].memory_gb for g in GPU_MEMORY_GB} == {g: float(v) for g, v in GPU_MEMORY_GB.items()}


# ----------------------------------------------------------------------------------- catalog/hf.py
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 128256.5])
def test_hf_config_with_a_bad_number(tmp_path: Path, value: float) -> None:
    """`gpuplan plan` with a model given as a config.json holding "vocab_size": NaN (or inf, or a fraction):
    exit 2 naming the file and the field (NaN and inf were internal errors)."""
    cfg = json.loads(HF_8B.read_text())
    cfg["vocab_size"] = value
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    r = gpuplan("plan", write_spec(tmp_path, spec_with({"models[0].model": "config.json"})))
    assert_user_error(r, "config.json", "'vocab_size'", "must be an integer")


# ------------------------------------------------------------------------------ catalog overlays
@pytest.mark.parametrize(
    ("entry", "field", "shown"),
    [
        ("{id: l4, memory_gb: .inf}", "memory_gb", "inf"),
        ("{id: l4, mem_bandwidth_gb_per_s: .nan}", "mem_bandwidth_gb_per_s", "nan"),
        ("{id: l4, tflops: {bf16: .inf}}", "tflops.bf16", "inf"),
    ],
)
def test_overlay_gpu_number_not_finite(tmp_path: Path, entry: str, field: str, shown: str) -> None:
    """`gpuplan plan spec.yaml --catalog o.yaml` with a non-finite GPU number: exit 2 naming file, entry and
    field (an infinite memory_gb was an internal error in the estimator)."""
    overlay = tmp_path / "o.yaml"
    overlay.write_text(f"schema_version: 1\ngpus:\n  - {entry}\n")
    r = gpuplan("plan", write_spec(tmp_path, BASE_SPEC), "--catalog", overlay)
    assert_user_error(r, "o.yaml", "gpus[0]", f"{field}: must be a finite number", shown)


def test_overlay_offering_price_not_finite(tmp_path: Path) -> None:
    overlay = tmp_path / "o.yaml"
    entry = "{id: 'aws:us-east-1:g6.2xlarge', price_usd_per_hour: .inf}"
    overlay.write_text(f"schema_version: 1\nofferings:\n  - {entry}\n")
    r = gpuplan("plan", write_spec(tmp_path, BASE_SPEC), "--catalog", overlay)
    assert_user_error(r, "o.yaml", "offerings[0]", "price_usd_per_hour", "finite")


@pytest.mark.parametrize("cls", [Gpu, Offering, HostProfile, EngineProfile])
def test_every_float_field_of_the_catalog_types_rejects_nan_and_inf(cls: type[Gpu]) -> None:
    """allow_inf_nan=False on the frozen base: each float field (also inside dicts) of a shipped entry,
    set to inf or NaN, fails validation."""
    catalog = shipped_catalog()
    entry = {Gpu: catalog.gpus["l4"], Offering: next(iter(catalog.offerings.values())),
             HostProfile: next(iter(catalog.hosts.values())), EngineProfile: catalog.engines[0]}[cls]  # fmt: skip
    base = entry.model_dump()
    checked = 0
    for name, value in base.items():
        for bad in (math.inf, math.nan):
            if isinstance(value, float):
                patched = {**base, name: bad}
            elif isinstance(value, dict) and value and all(isinstance(v, float) for v in value.values()):
                patched = {**base, name: {**value, next(iter(value)): bad}}
            else:
                continue
            checked += 1
            with pytest.raises(ValueError, match="finite"):
                cls.model_validate(patched)
    assert checked >= 2


# ---------------------------------------------------------------- solvers/placement.py, gpuplan place
def test_place_without_highspy(tmp_path: Path) -> None:
    """`gpuplan place ...` where `import highspy` fails: exit 2 saying the command needs highspy (was
    "internal error: ImportError", exit 3). A shadow highspy module that raises simulates the missing package."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "highspy.py").write_text("raise ImportError('No module named highspy')\n")
    r = gpuplan(
        "place", "--model", "opt-30b", "--gpu", "t4", "--input-len", "512", "--output-len", "32",
        "--cpu-mem-gb", "200", "--disk-gb", "1000",
        env={"PYTHONPATH": str(shadow)}, process=True,
    )  # fmt: skip
    assert_user_error(r, "gpuplan place needs highspy", "pip install highspy")
