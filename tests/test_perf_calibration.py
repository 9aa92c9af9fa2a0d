"""Estimator error against published measurements (catalog/data/measured-calibration.csv: TensorRT-LLM
perf docs v0.6.1 and v1.0, NVIDIA NIM 1.8.0, vLLM CI), with the shipped engines.yaml factors; and the
engine-profile fallback rules."""

from __future__ import annotations

import pytest

from catalog.loader import load_catalog
from planner.errors import CatalogError
from planner.perf import engine_profile
from planner.perf.calibration import error_summary, evaluate, load_rows
from planner.perf.profiles import ENGINES, is_calibrated

CAT = load_catalog()
TARGET_MEDIAN = 0.15
TARGET_P90 = 0.35


@pytest.fixture(scope="module")
def results():  # type: ignore[no-untyped-def]
    return evaluate(load_rows(), CAT)


def test_every_row_is_mapped_and_most_are_scored(results) -> None:  # type: ignore[no-untyped-def]
    assert len(results) == 104
    assert sum(r.row.scored for r in results) >= 100
    assert all(r.predicted > 0 for r in results)


def test_error_within_target_overall_and_per_metric(results) -> None:  # type: ignore[no-untyped-def]
    summary = error_summary(results)
    assert set(summary) >= {"all", "output_tokens_per_s", "output_tokens_per_s_per_gpu", "ttft_ms"}
    for metric, (n, median, p90) in summary.items():
        assert median <= TARGET_MEDIAN, (metric, n, median)
        assert p90 <= TARGET_P90, (metric, n, p90)


def test_max_load_throughput_saturates_with_long_prompts(results) -> None:  # type: ignore[no-untyped-def]
    """Shape, not just level: for every (model, GPU) series, 20000/2000 is far below 128/128."""
    by_key = {
        (r.row.model, r.row.gpu, r.row.input_len, r.row.output_len): r.predicted
        for r in results
        if r.row.mode == "max_load" and r.row.scored
    }
    for model, gpu in {(m, g) for m, g, _, _ in by_key}:
        assert by_key[(model, gpu, 20000, 2000)] < 0.2 * by_key[(model, gpu, 128, 128)]


def test_shipped_profiles_cover_every_engine_and_family() -> None:
    families = {g.family for g in CAT.gpus.values()}
    have = {(e.engine, e.family) for e in CAT.engines}
    assert {(e, f) for e in ENGINES for f in families} <= have
    calibrated = {(e.engine, e.family) for e in CAT.engines if is_calibrated(e)}
    assert ("trtllm", "hopper") in calibrated and ("vllm", "hopper") in calibrated
    for e in CAT.engines:
        assert e.fit and e.source and e.as_of
        if not is_calibrated(e):
            assert e.fit.startswith("fallback") and "from" in e.fit


def test_fallback_for_unknown_family_and_unknown_engine() -> None:
    gpu = CAT.gpus["h100-sxm"].model_copy(update={"id": "future", "family": "rubin"})
    prof = engine_profile(CAT, "sglang", gpu)
    assert prof.family == "rubin" and prof.fit.startswith("fallback")
    with pytest.raises(CatalogError, match="unknown engine"):
        engine_profile(CAT, "tgi", gpu)
