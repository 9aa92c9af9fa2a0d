"""Spec models of multi-period plans that `ScheduleOptions` (planner/spec.py) refers to: machines the
user owns (on-prem), priced by amortisation."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from planner.bounds import MAX_COUNT
from planner.spec_fields import Int, NonNegFloat, PositiveFloat, SpecModel

HOURS_PER_YEAR = 8760.0
"""365 days; the amortisation and the yearly opex are spread over these hours."""

MAX_USD = 1e9
MAX_YEARS = 50.0
MAX_KW = 1e4


class OnPrem(SpecModel):
    """An offering the user owns (or would buy) instead of renting: each instance costs its amortised
    price every hour of the horizon, used or not, and none is rented by the hour.

        $/h = purchase_usd / (lifetime_years x 8760) + power_kw x usd_per_kwh + opex_usd_per_year / 8760

    (all per instance; power is paid every hour: an owned machine is assumed powered on)."""

    purchase_usd: Annotated[NonNegFloat, Field(le=MAX_USD)] = Field(
        description="price of one instance (hardware, installation), USD"
    )
    lifetime_years: Annotated[PositiveFloat, Field(le=MAX_YEARS)] = Field(
        description="years the purchase is spread over (straight-line amortisation)"
    )
    power_kw: Annotated[NonNegFloat, Field(le=MAX_KW)] = Field(
        default=0.0, description="power one instance draws, cooling included (kW)"
    )
    usd_per_kwh: Annotated[NonNegFloat, Field(le=100.0)] = Field(default=0.0, description="electricity price")
    opex_usd_per_year: Annotated[NonNegFloat, Field(le=MAX_USD)] = Field(
        default=0.0, description="other running costs per instance and year (space, support, staff)"
    )
    max_instances: Annotated[Int, Field(ge=0, le=MAX_COUNT)] | None = Field(
        default=None, description="how many can be owned (omit: as many as the plan wants)"
    )

    def price_usd_per_hour(self) -> float:
        """The amortised $/h of one instance (the formula above)."""
        return (
            self.purchase_usd / (self.lifetime_years * HOURS_PER_YEAR)
            + self.power_kw * self.usd_per_kwh
            + self.opex_usd_per_year / HOURS_PER_YEAR
        )
