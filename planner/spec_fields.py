"""The building blocks of every spec model: the frozen, extra=forbid base class and the number types
that refuse YAML booleans and non-finite values.

Shared by planner/spec.py and planner/spec_workload.py, so that both sections of a spec read numbers
the same way.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from planner.bounds import MAX_TOKENS


class SpecModel(BaseModel):
    """Base of every spec model: frozen values, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _not_bool(value: object) -> object:
    """YAML's true/false/yes/no are not numbers (pydantic would read them as 1 and 0)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


NotBool = BeforeValidator(_not_bool)
Int = Annotated[int, NotBool]
Tokens = Annotated[int, NotBool, Field(ge=1, le=MAX_TOKENS)]
Float = Annotated[float, NotBool, Field(allow_inf_nan=False)]
PositiveFloat = Annotated[float, NotBool, Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, NotBool, Field(ge=0, allow_inf_nan=False)]
