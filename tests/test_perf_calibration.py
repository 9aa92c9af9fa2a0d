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
from planner.perf.fitted import cross_validated, read_fit, stale_factors
from planner.perf.profiles import ENGINES
from planner.perf.uncertainty import profile_grade

CAT = load_catalog()
ROWS = load_rows()
SCORED = [r for r in ROWS if r.scored]
# Bounds on the cross-validated (held-out) error, as bench/estimator_accuracy.py prints it. Issue 12's
# target is median <= 15 %, p90 <= 35 %, every regime median <= 25 %; the bounds here are what the shipped
# fit achieves (CALIBRATION.md and the issue-12 note say where it falls short).
CV_MEDIAN = 0.12
CV_P90 = 0.39
IN_SAMPLE_MEDIAN = 0.09


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


def test_sharegpt_median_end_to_end_rows_are_not_scored() -> None:
    """A median end-to-end latency over ShareGPT is not the latency of a mean-length request (the output
    lengths are skewed): unscored in every source, whether or not the run's mean lengths are stated."""
    import csv  # noqa: PLC0415 - only this test reads the raw file
    import io  # noqa: PLC0415

    from catalog.loader import DATA_DIR  # noqa: PLC0415

    text = (DATA_DIR / "measured-calibration-2.csv").read_text(encoding="utf-8")
    raw = list(csv.DictReader(io.StringIO(text)))
    rows2 = {r.line: r for r in ROWS if r.file == "measured-calibration-2.csv"}
    sharegpt_e2e = [
        k
        for k, r in enumerate(raw, start=1)
        if "ShareGPT" in r["input_len"] and r["metric"] == "e2e_latency_median"
    ]
    assert len(sharegpt_e2e) >= 12
    for k in sharegpt_e2e:
        assert not rows2[k].scored and "skewed" in rows2[k].note, k
    # random-length runs (uniform lengths: median near the mean) stay scored
    assert any(r.scored and r.metric == "e2e_ms" and r.source == "datacrunch-h200" for r in ROWS)


def test_inferencex_mean_ttft_carries_the_runs_start_up_and_is_not_scored() -> None:
    """InferenceX runs 10 x C prompts at concurrency C, the first C at once. Its TTFT p99 barely moves
    from C = 8 to 64 while that first wave's prefill work grows 8x: a fixed start-up the wave (10 % of the
    prompts) waits, which every mean TTFT carries and no steady state has. The means are unscored for
    that; the same runs' TPOT and throughput stay scored."""
    ix = [r for r in ROWS if r.source == "inferencex-870"]
    p99 = {r.batch: r.value for r in ix if r.metric == "ttft_ms" and r.stat == "p99"}
    assert sorted(p99) == [8, 16, 32, 64]
    assert p99[64] / p99[8] < 1.5 and p99[8] > 1500.0  # ~2 s at every concurrency; the wave grows 8x
    means = [r for r in ix if r.metric == "ttft_ms" and r.stat == "mean"]
    assert len(means) == 4
    assert all(not r.scored and "start-up" in r.note for r in means)
    assert sum(r.scored for r in ix if r.metric in ("tpot_ms", "output_tokens_per_s")) == 8


def test_early_moe_rows_share_one_release_factor_and_estimates_never_use_it() -> None:
    """vLLM 0.4.2's Qwen2-MoE and SGLang 0.4.1's DeepSeek-V3 rows ran the same untuned Triton fused-MoE
    kernel: they are scored with one moe_gemm_efficiency fitted on both (stored in every profile as
    legacy_moe_gemm_efficiency), so either source held out is predicted from the other's; other rows and
    every estimate use the engine's own factor."""
    from planner.perf.calibration import deployment_for  # noqa: PLC0415
    from planner.perf.fitted import read_fit as stored  # noqa: PLC0415

    early = {r.source for r in SCORED if r.early_moe}
    assert early == {"qwen2-speed", "sglang-dsv3-h200"}
    fit = stored()
    assert "early::moe_gemm_efficiency" in fit.parameters
    assert not [n for n in fit.parameters if n.startswith("early:") and n != "early::moe_gemm_efficiency"]
    for source in early:
        # held out, the other source still pins the shared factor
        assert "early::moe_gemm_efficiency" in fit.folds[source], source
    from planner.perf import Deployment  # noqa: PLC0415

    values = set()
    for engine in ("vllm", "sglang"):
        gpu = CAT.gpus["h200"]
        profile = engine_profile(CAT, engine, gpu)
        # an estimate's deployment reads the engine's own factor, never the early release's
        dep = Deployment(CAT.models["deepseek-v3"], gpu, 8, "fp8", "fp8", profile)
        assert dep.factor("moe_gemm_efficiency") == profile.extra.moe_gemm_efficiency
        assert profile.extra.legacy_moe_gemm_efficiency != profile.extra.moe_gemm_efficiency
        values.add(profile.extra.legacy_moe_gemm_efficiency)
    assert len(values) == 1, values  # one kernel, one value, whatever the engine
    row = next(r for r in SCORED if r.early_moe and r.engine == "sglang")
    modern = next(r for r in SCORED if r.source == "inferencex-870")
    shipped = next(e for e in CAT.engines if (e.engine, e.family) == ("sglang", "hopper"))
    early_value = shipped.extra.legacy_moe_gemm_efficiency
    assert early_value is not None and early_value != shipped.extra.moe_gemm_efficiency
    assert deployment_for(row, CAT, shipped).factor("moe_gemm_efficiency") == early_value
    assert deployment_for(modern, CAT, shipped).factor("moe_gemm_efficiency") == shipped.extra.moe_gemm_efficiency


def test_the_shipped_folds_were_fitted_with_the_shipped_physics() -> None:
    """The cross-validated figures are only this fit's when its folds fitted the same factors: folds kept
    by `fit_calibration.py --no-cv` after a new factor was added would score the new physics with the old
    folds (a fold may lack a family's or an engine's parameters, never a whole factor)."""
    fit = read_fit()
    assert fit.folds and stale_factors(fit.parameters, fit.folds) == ()
    some = next(iter(fit.folds))
    # a fold fitted before a factor existed, and one fitted with a factor the full fit no longer has
    old = {k: {n: z for n, z in v.items() if not n.endswith(":request_overhead_ms")} for k, v in fit.folds.items()}
    assert stale_factors(fit.parameters, old) == ("request_overhead_ms",)
    extra = {**fit.folds, some: {**fit.folds[some], "global::ring_hop_latency_us": 1.0}}
    assert stale_factors(fit.parameters, extra) == ("ring_hop_latency_us",)
    # a fold that holds out the only source of a family lacks that family's parameters: not stale
    thin = {**fit.folds, some: {n: z for n, z in fit.folds[some].items() if ":blackwell:" not in n}}
    assert stale_factors(fit.parameters, thin) == ()
