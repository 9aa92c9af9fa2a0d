"""The calibration fit's objective (bench/fit_calibration.py): the shipped fit is the default objective's,
the robust losses behave as their docstrings say, and the fit script's cross-validated figures are the
ones bench/estimator_accuracy.py prints for the same folds."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from catalog.loader import DATA_DIR, load_catalog
from planner.perf.calibration import error_summary, quantile, regime
from planner.perf.fitted import cross_validated, read_fit
from planner.perf.measured import load_rows
from tests.support import load_script

FC = load_script("bench/fit_calibration.py")


def test_the_shipped_fit_was_fitted_with_the_default_objective() -> None:
    stored = yaml.safe_load((DATA_DIR / "calibration-fit.yaml").read_text(encoding="utf-8"))
    assert stored["objective"] == FC.Objective().describe()
    assert "n_source^-1/4" in FC.Objective().describe()
    assert "n_source^-1/2" in FC.Objective(source_exponent=0.5).describe()


@pytest.mark.parametrize("loss", ["soft-l1", "cauchy"])
def test_robust_residuals_are_the_log_error_when_small_and_keep_its_sign(loss: str) -> None:
    ob = FC.Objective(loss=loss)
    small = np.array([-0.01, 0.0, 0.01])
    assert np.allclose(FC.robust(small, ob), small, rtol=1e-3, atol=1e-12)
    big = np.array([-2.0, 2.0])
    assert list(np.sign(FC.robust(big, ob))) == [-1.0, 1.0]


def test_soft_l1_pulls_linearly_and_cauchy_lets_far_rows_go() -> None:
    """Squared residual = the loss: soft-L1 2 s^2 (sqrt(1 + (e/s)^2) - 1) grows like e, Cauchy
    s^2 log(1 + (e/s)^2) like log e, so a row 3x off moves the fit less under Cauchy."""
    e = np.array([0.5, 1.0, 2.0])
    s = 0.2
    soft = FC.robust(e, FC.Objective(loss="soft-l1", robust_scale=s)) ** 2
    cauchy = FC.robust(e, FC.Objective(loss="cauchy", robust_scale=s)) ** 2
    assert np.allclose(soft, 2 * s**2 * (np.sqrt(1 + (e / s) ** 2) - 1))
    assert np.allclose(cauchy, s**2 * np.log1p((e / s) ** 2))
    assert 2.0 < soft[2] / soft[1] < 2.5  # about linear far out (2 s e - 2 s^2)
    assert cauchy[2] / cauchy[1] < 1.5
    assert (cauchy < soft).all()


def test_the_fit_script_prints_the_cross_validated_figures_of_its_folds() -> None:
    """fit_calibration.py prints the figures of the folds it just fitted (the stale-fold mistake of 843cc5b
    printed another fit's); on the shipped folds they are bench/estimator_accuracy.py's."""
    catalog = load_catalog()
    rows = [r for r in load_rows() if r.scored]
    folds = read_fit().folds
    text = FC.cv_summary(rows, catalog, folds)
    results = cross_validated(rows, catalog, folds)
    _, median, p90 = error_summary(results)["all"]
    by: dict[tuple[str, ...], list[float]] = {}
    for res in results:
        by.setdefault(regime(res.row, catalog), []).append(abs(res.rel_error))
    over = sum(1 for errs in by.values() if quantile(errs, 0.5) > 0.25)
    assert text == (
        f"cross-validated: median {median * 100:.1f} %, p90 {p90 * 100:.1f} %, "
        f"{over} of {len(by)} regimes with a median over 25 %"
    )



def test_the_fit_keeps_the_lower_of_its_cold_and_warm_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The objective is not convex, so a fit also starts from its stored solution and keeps whichever start
    reaches the lower objective (the cold one on a tie): on real rows never worse than the priors' start."""
    catalog = load_catalog()
    rows = [r for r in load_rows() if r.scored and r.source == "qwen2.5-speed"]
    problem = FC.Problem(rows, catalog)

    def cost(z: dict[str, float]) -> float:
        r = problem.residuals(np.array([z.get(n, 0.0) for n in problem.names]))
        return float(r @ r)

    cold = FC.fit(rows, catalog)
    far = {n: 2.5 for n in problem.names}
    assert cost(FC.fit(rows, catalog, warm=far)) <= cost(cold) + 1e-12
    # the choice itself, with LM replaced by "stay where you start" and a cost of the start's first z
    monkeypatch.setattr(FC, "levenberg_marquardt", lambda pb, z0, **_: (z0, float(z0[0])))
    first = problem.names[0]
    assert FC.fit(rows, catalog, warm={first: -1.0})[first] == -1.0  # lower objective: the warm start
    assert FC.fit(rows, catalog, warm={first: 1.0})[first] == 0.0  # higher: the priors
    assert FC.fit(rows, catalog, warm={first: 0.0, problem.names[1]: 3.0})[problem.names[1]] == 0.0  # tie: cold
