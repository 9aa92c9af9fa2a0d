"""What `gpuplan validate` checks: everything `plan` checks before estimating and solving.

Fields, catalog ids, workload and profile files (through the same inputs stage as `plan`), and how many
candidates each model has. Every problem is an InputError; a valid spec gives a `ValidationResult`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from planner.candidates import make_candidates
from planner.inputs import PlanInputs, check_profiles, load_model, offerings_for


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ValidatedModel(_Frozen):
    model: str = Field(description="the model's label")
    slices: int
    candidates: str = Field(description="memory-feasible candidates, or 'measured' (exclusive profiles)")


class ValidationResult(_Frozen):
    spec: str = Field(description="the spec file as given")
    valid: bool
    offerings: int = Field(description="offerings that pass the spec's filters")
    models: tuple[ValidatedModel, ...]


def validate_inputs(inputs: PlanInputs, spec_name: str) -> ValidationResult:
    """Check the loaded spec as `plan` would, up to the capacity stage."""
    check_profiles(inputs.spec, inputs.catalog)
    offerings = offerings_for(inputs)
    rows = []
    for i in range(len(inputs.spec.models)):
        m = load_model(inputs, i, offerings)
        if m.exclusive or m.arch is None:
            n_cand = "measured"
        else:
            n_cand = str(len(make_candidates(inputs.catalog, m.label, m.arch, offerings, inputs.spec.search)))
        rows.append(ValidatedModel(model=m.label, slices=len(m.slices), candidates=n_cand))
    return ValidationResult(spec=spec_name, valid=True, offerings=len(offerings), models=tuple(rows))
