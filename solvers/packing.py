"""Exact packing of replicas of several sizes (GPUs each) onto instances of one size, as linear rows.

See `solvers.fleet_milp` for why the split into a divisibility chain and an odd core is exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PackingShape:
    """How one offering's shared replica sizes are packed exactly (see the module docstring).

    chain: (t, G_t) per packing row, t ascending; core: the odd sizes, packed by `patterns` (maximal
    contents of one instance, one count per core size)."""

    chain: tuple[tuple[int, int], ...]
    core: tuple[int, ...]
    patterns: tuple[tuple[int, ...], ...]


def packing_shape(gpus_per_instance: int, sizes: Iterable[int]) -> PackingShape:
    """Split replica sizes into a divisibility chain (aggregate rows) and an odd core (patterns)."""
    g = gpus_per_instance
    rest = sorted({t for t in sizes if 1 <= t <= g})
    chain: list[tuple[int, int]] = []
    while rest and all(t % rest[0] == 0 for t in rest[1:]):
        t = rest.pop(0)
        usable = g - g % t
        if not chain or usable < chain[-1][1]:
            chain.append((t, usable))
    core = tuple(rest)
    return PackingShape(tuple(chain), core, maximal_patterns(g, core) if core else ())


def maximal_patterns(gpus_per_instance: int, sizes: Sequence[int]) -> tuple[tuple[int, ...], ...]:
    """Every content of one instance (count per size) to which no further replica of `sizes` can be added."""
    out: list[tuple[int, ...]] = []
    smallest = min(sizes) if sizes else 0

    def extend(i: int, free: int, acc: tuple[int, ...]) -> None:
        if i == len(sizes):
            if free < smallest:
                out.append(acc)
            return
        for k in range(free // sizes[i], -1, -1):
            extend(i + 1, free - k * sizes[i], (*acc, k))

    extend(0, gpus_per_instance, ())
    return tuple(out)
