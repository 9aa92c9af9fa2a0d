"""Estimator error against published measurements (catalog/data/measured-calibration*.csv, 18 publications):
every row is mapped, unscored rows say why, the shipped engines.yaml reproduces its in-sample figures,
and the stored leave-one-source-out folds (calibration-fit.yaml) keep the cross-validated error within
its bounds when the held-out rows are re-scored here; plus the profile coverage and fallback rules."""

from __future__ import annotations

import math

import pytest

from catalog.loader import load_catalog
from planner.errors import CatalogError
from planner.perf import engine_profile
from planner.perf.calibration import RowResult, error_summary, evaluate, load_rows, quantile, regime
from planner.perf.fitted import cross_validated, read_fit
from planner.perf.profiles import ENGINES
from planner.perf.uncertainty import profile_grade

CAT = load_catalog()
ROWS = load_rows()
SCORED = [r for r in ROWS if r.scored]
# Bounds on the cross-validated (held-out) error, as bench/estimator_accuracy.py prints it. Issue 12's
# target is median <= 15 %, p90 <= 35 %, every regime median <= 25 %; the bounds here are what the shipped
# fit achieves (CALIBRATION.md and the issue-12 note say where it falls short).
CV_MEDIAN = 0.18
CV_P90 = 0.67
IN_SAMPLE_MEDIAN = 0.15


@pytest.fixture(scope="module")
def insample() -> tuple[RowResult, ...]:
    return evaluate(SCORED, CAT)


@pytest.fixture(scope="module")
def cv() -> tuple[RowResult, ...]:
    return cross_validated(SCORED, CAT, read_fit().folds)


def test_every_row_of_both_files_is_mapped_and_unscored_rows_say_why() -> None:
    assert len([r for r in ROWS if r.file == "measured-calibration.csv"]) == 104
    assert len([r for r in ROWS if r.file == "measured-calibration-2.csv"]) == 285
    assert len(SCORED) >= 250
    assert len({r.source for r in SCORED}) >= 15
    for r in ROWS:
        if r.scored:
            assert r.value > 0 and r.input_len > 0 and r.output_len > 0, r.key
        else:
            assert r.note.startswith("unscored: ") and len(r.note) > 20, r.key


def test_in_sample_error_of_the_shipped_profiles(insample: tuple[RowResult, ...]) -> None:
    assert all(r.predicted > 0 for r in insample)
    n, median, _ = error_summary(insample)["all"]
    assert n == len(SCORED)
    assert median <= IN_SAMPLE_MEDIAN, median


def test_held_out_error_is_bounded(cv: tuple[RowResult, ...]) -> None:
    """Each source predicted by the parameters fitted without it (folds stored by the fitter)."""
    assert {r.row.key for r in cv} == {r.key for r in SCORED}, "a source has no cross-validation fold"
    errs = [abs(r.rel_error) for r in cv]
    assert quantile(errs, 0.5) <= CV_MEDIAN
    assert quantile(errs, 0.9) <= CV_P90


def test_cross_validation_folds_never_saw_their_source() -> None:
    """A fold differs from the full fit exactly where its source pinned a parameter: the folds of sources
    that alone pin a family (AMD: vllm-blog-mi300x, rocm-blog-vllm) move that family's factors."""
    fit = read_fit()
    assert set(fit.folds) == {r.source for r in SCORED}
    for source, z in fit.folds.items():
        assert z != dict(fit.parameters), source


def test_regime_bands_are_stored_and_consistent_with_the_folds(cv: tuple[RowResult, ...]) -> None:
    bands = read_fit().bands
    overall = bands["*/*/*/*/*"]
    assert overall.rows == len(SCORED)
    errs = [abs(r.rel_error) for r in cv]
    assert overall.median_abs_error == pytest.approx(quantile(errs, 0.5), abs=2e-3)
    keys = {"/".join(regime(r, CAT)) for r in SCORED}
    assert keys <= set(bands)


def test_max_load_throughput_saturates_with_long_prompts(insample: tuple[RowResult, ...]) -> None:
    """Shape, not just level: for every (model, GPU) series, 20000/2000 is far below 128/128."""
    by_key = {
        (r.row.model, r.row.gpu, r.row.input_len, r.row.output_len): r.predicted
        for r in insample
        if r.row.mode == "max_load" and r.row.source == "trtllm-perf-v1.0"
    }
    for model, gpu in {(m, g) for m, g, _, _ in by_key}:
        assert by_key[(model, gpu, 20000, 2000)] < 0.2 * by_key[(model, gpu, 128, 128)]


def test_shipped_profiles_cover_every_engine_and_family_with_a_grade() -> None:
    families = {g.family for g in CAT.gpus.values()}
    have = {(e.engine, e.family): e for e in CAT.engines}
    assert {(e, f) for e in ENGINES for f in families} <= set(have)
    for e in CAT.engines:
        assert e.fit and e.source and e.as_of
        assert e.fit.split(":")[0] in ("calibrated", "borrowed", "extrapolated"), e.fit
    assert profile_grade(have[("trtllm", "hopper")].fit) == "calibrated"
    assert profile_grade(have[("sglang", "hopper")].fit) == "calibrated"
    assert profile_grade(have[("vllm", "cdna3")].fit) == "calibrated"  # AMD fitted on its own rows
    assert profile_grade(have[("trtllm", "ampere")].fit) == "calibrated"
    assert profile_grade(have[("sglang", "ampere")].fit) == "calibrated"
    assert profile_grade(have[("vllm", "ada")].fit) == "extrapolated"  # no Ada rows in either file


def test_fallback_for_unknown_family_and_unknown_engine() -> None:
    gpu = CAT.gpus["h100-sxm"].model_copy(update={"id": "future", "family": "rubin"})
    prof = engine_profile(CAT, "sglang", gpu)
    assert prof.family == "rubin" and prof.fit.startswith("fallback")
    with pytest.raises(CatalogError, match="unknown engine"):
        engine_profile(CAT, "tgi", gpu)


def test_no_estimate_is_nan(insample: tuple[RowResult, ...], cv: tuple[RowResult, ...]) -> None:
    assert all(math.isfinite(r.predicted) for r in (*insample, *cv))
