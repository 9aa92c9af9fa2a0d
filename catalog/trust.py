"""How far a price can be trusted: flags, their one-character marks, and the price's age.

A price is flagged when its source doubts it (`uncertain`), when it looks wrong (`suspect`: a spot
price 89% below on-demand, a per-GPU price outside the range of list prices) or when the user replaced
it (`overridden`). Reports put the mark next to the price and say why in their notes.

Ages: `as_of` is a date (`2025-06-01`), a month (`2025-06`) or a year (`2025`); the age is counted from
the first day of that period, so for a month or a year it is an upper bound ("at most N days old").
"""

from __future__ import annotations

import datetime
import re
from typing import Literal

from catalog.types import Offering

Flag = Literal["uncertain", "suspect", "overridden"]
MARKS: dict[str, str] = {"uncertain": "?", "suspect": "!", "overridden": "*"}
"""One-character marks shown next to a flagged price in tables and Markdown."""
LEGEND = "? uncertain in its source, ! looks wrong (verify), * overridden by you"

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def price_flags(offering: Offering, *, spot: bool = False, overridden: bool = False) -> tuple[Flag, ...]:
    """The flags of the price a plan pays for `offering` (its spot price when `spot`)."""
    flags: list[Flag] = []
    if offering.uncertain:
        flags.append("uncertain")
    suspect = offering.spot_suspect if spot and not offering.preemptible else offering.price_suspect
    if suspect:
        flags.append("suspect")
    if overridden:
        flags.append("overridden")
    return tuple(flags)


def price_reasons(offering: Offering, *, spot: bool = False, overridden: bool = False) -> tuple[str, ...]:
    """Why each flag of `price_flags` is set, in the same order."""
    out: list[str] = []
    if offering.uncertain:
        note = offering.notes.split("UNCERTAIN:", 1)[-1].strip() if "UNCERTAIN:" in offering.notes else ""
        out.append(note.split(". ")[0].rstrip(".") if note else "its source flags it as uncertain")
    suspect = offering.spot_suspect if spot and not offering.preemptible else offering.price_suspect
    if suspect:
        out.append(suspect)
    if overridden:
        out.append("price replaced by the spec's price_overrides or a catalog overlay")
    return tuple(out)


def marks(flags: tuple[str, ...]) -> str:
    """`?!` for ('uncertain', 'suspect'): the marks of `flags`, in the fixed order of MARKS."""
    return "".join(MARKS[f] for f in MARKS if f in flags)


def as_of_start(as_of: str) -> datetime.date | None:
    """The first day of the period `as_of` names, or None when it names no date ('unknown', prose)."""
    m = _DATE.match(as_of.strip())
    if not m:
        return None
    year, month, day = int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1)
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def age_days(as_of: str, today: datetime.date) -> int | None:
    """Days from the start of `as_of` to `today` (an upper bound for a month or a year); None if undated."""
    start = as_of_start(as_of)
    return None if start is None else max((today - start).days, 0)
