"""EngineProfile.extra is a typed EngineFactors: every factor perf reads is a named field, a misspelt one
in an overlay is an error (exit 2) instead of a factor silently ignored under a calibrated profile."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from catalog.loader import DATA_DIR, load_catalog
from catalog.types import EngineFactors
from planner.perf.calibration import EARLY_FACTORS, LEGACY_FACTORS, LEGACY_PREFIX
from planner.perf.deployment import EXTRA_DEFAULTS
from tests.support import assert_user_error, gpuplan

ESTIMATE = ("estimate", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--input-len", "1000", "--output-len", "200")


def test_every_factor_perf_reads_is_a_field_and_every_field_has_a_default_or_is_legacy() -> None:
    fields = set(EngineFactors.model_fields)
    legacy = {LEGACY_PREFIX + name for name in LEGACY_FACTORS + EARLY_FACTORS}
    assert fields - legacy == set(EXTRA_DEFAULTS)
    assert legacy <= fields


def test_engines_yaml_reads_and_dumps_back_as_written() -> None:
    """bench/fit_calibration.py writes `profile.model_dump(mode="json")`: the factors come back as given,
    in the file's order, with nothing added."""
    entries = yaml.safe_load((DATA_DIR / "engines.yaml").read_text(encoding="utf-8"))["engines"]
    profiles = {(p.engine, p.family): p for p in load_catalog().engines}
    assert len(profiles) == len(entries)
    for entry in entries:
        dumped = profiles[entry["engine"], entry["family"]].model_dump(mode="json")["extra"]
        assert list(dumped.items()) == list(entry["extra"].items())


def _overlay(tmp_path: Path, extra: dict[str, float]) -> Path:
    path = tmp_path / "factors.yaml"
    doc = {"schema_version": 1, "engines": [{"engine": "vllm", "family": "hopper", "extra": extra}]}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_a_misspelt_factor_in_an_overlay_is_a_one_line_error(tmp_path: Path) -> None:
    overlay = _overlay(tmp_path, {"kv_bandwith_efficiency": 0.3})
    run = gpuplan(*ESTIMATE, "--catalog", overlay)
    assert_user_error(run, "factors.yaml", "engines[0]", "extra.kv_bandwith_efficiency: unknown field",
                      "did you mean 'kv_bandwidth_efficiency'?", "valid: allreduce_bw_efficiency,")
    assert len(run.err.strip().splitlines()) == 1


def test_a_factor_in_an_overlay_is_read(tmp_path: Path) -> None:
    base = json.loads(gpuplan(*ESTIMATE, "-f", "json").out)["data"]
    run = gpuplan(*ESTIMATE, "-f", "json", "--catalog", _overlay(tmp_path, {"request_overhead_ms": 500.0}))
    assert run.code == 0, run
    slower = json.loads(run.out)["data"]
    assert slower["ttft_ms"] > base["ttft_ms"] + 400
