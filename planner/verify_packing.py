"""Can replicas of given GPU sizes be placed whole on n instances of G GPUs? Exactly, on counts.

The verifier's packing check (planner.verify): a plan may hold 500,000 replicas, so this works on how
many replicas of each size there are, never on single replicas, and is exact (the hypothesis test in
tests/test_verify.py compares it with trying every placement). Pure integer arithmetic, no solver.
"""

from __future__ import annotations

import math


def fits(counts: dict[int, int], bins: int, bin_size: int) -> bool:
    """Can `counts[size]` replicas of each GPU size be placed whole on `bins` instances of `bin_size` GPUs?

    Exact, and works on counts, never on single replicas (a plan may hold 500,000 of them). Repeat:
    1. drop the GPUs of an instance that no mix of the sizes can use (an instance of 10 GPUs holds
       multiples of 4 and 8 on at most 8 of them);
    2. a size larger than that, or more GPUs than the instances have: no;
    3. set the smallest size aside when it divides the instance and every other size: whatever the others
       leave free on an instance is a multiple of it, so it fits iff the total fits (2.).
    Every chain of sizes that divide each other (power-of-two tp, whatever the instance) ends there:
    O(#sizes^2). Odd shapes (sizes that do not divide each other, as 3 and 4): a placement found by
    first-fit decreasing or by filling instances in bulk proves a yes; otherwise `_fits_exactly` decides.
    """
    need = {size: k for size, k in counts.items() if k > 0}
    if any(size < 1 for size in need):
        return False
    if bins < 0:
        return not need
    sizes = sorted(need)
    while sizes:
        step = math.gcd(*sizes)
        bin_size -= bin_size % step
        if sizes[-1] > bin_size or sum(size * need[size] for size in sizes) > bins * bin_size:
            return False
        if bin_size % sizes[0] or any(other % sizes[0] for other in sizes[1:]):
            break
        sizes.pop(0)
    if not sizes:
        return True
    rest = {size: need[size] for size in sizes}
    return (
        _first_fit_decreasing(rest, bins, bin_size)
        or _fill_in_bulk(rest, bins, bin_size)
        or _fits_exactly(rest, bins, bin_size)
    )


def _first_fit_decreasing(counts: dict[int, int], bins: int, bin_size: int) -> bool:
    """First-fit decreasing, on runs (free GPUs, instances) in instance order: first fit puts equal replicas
    on the first instance until it is full, then on the next, so a run takes floor(free / size) replicas
    per instance and splits into at most three runs. O(#sizes^2) runs in all."""
    runs: list[tuple[int, int]] = [(bin_size, bins)]
    for size in sorted(counts, reverse=True):
        left = counts[size]
        out: list[tuple[int, int]] = []
        for free, n in runs:
            per = free // size
            if left == 0 or per == 0:
                out.append((free, n))
                continue
            full = min(n, left // per)
            left -= full * per
            if full:
                out.append((free - per * size, full))
            if full < n and left:
                out.append((free - left * size, 1))
                left = 0
                full += 1
            if full < n:
                out.append((free, n - full))
        if left:
            return False
        runs = out
    return True


def _fill_in_bulk(counts: dict[int, int], bins: int, bin_size: int) -> bool:
    """Repeatedly give as many instances as the counts allow the content that places the most GPUs (larger
    replicas first on ties). A yes is a placement; a no proves nothing."""
    sizes = sorted(counts, reverse=True)
    contents = sorted(_maximal_contents(sizes, bin_size), reverse=True)
    left = [counts[size] for size in sizes]
    while any(left):
        # max keeps the first of equals, and contents are sorted with more large replicas first
        best = max(contents, key=lambda c: sum(min(k, n) * z for k, n, z in zip(c, left, sizes, strict=True)))
        times = min((n // k for k, n in zip(best, left, strict=True) if k), default=0)
        times = max(times, 1)
        bins -= times
        if bins < 0:
            return False
        left = [max(n - k * times, 0) for k, n in zip(best, left, strict=True)]
    return True


def _fits_exactly(counts: dict[int, int], bins: int, bin_size: int) -> bool:
    """Exact packing by counts, for odd shapes that the two placements above could not place.

    Fills instances one at a time with maximal contents (how many replicas of each size share an instance),
    keeping after each instance only the Pareto-minimal vectors of replicas still to place and dropping
    those whose GPUs exceed what the instances left can hold. The states are vectors below the counts, so
    the work is polynomial in the counts for a fixed instance size, but it grows fast with them: called
    on its own, 100 full 9-GPU instances of 4 + 3 + 2 take about 10 s (`_fill_in_bulk` places them at once).
    """
    sizes = sorted(counts, reverse=True)
    contents = _maximal_contents(sizes, bin_size)
    frontier = [tuple(counts[size] for size in sizes)]
    for used in range(1, bins + 1):
        room = (bins - used) * bin_size
        nxt: set[tuple[int, ...]] = set()
        for left in frontier:
            for content in contents:
                after = tuple(max(k - c, 0) for k, c in zip(left, content, strict=True))
                if not any(after):
                    return True
                if sum(k * size for k, size in zip(after, sizes, strict=True)) <= room:
                    nxt.add(after)
        frontier = _pareto_minimal(nxt)
        if not frontier:
            return False
    return False


def _maximal_contents(sizes: list[int], bin_size: int) -> list[tuple[int, ...]]:
    """Every way to fill one instance with replicas of `sizes` to which no further replica can be added."""
    out: list[tuple[int, ...]] = []

    def extend(i: int, free: int, acc: tuple[int, ...]) -> None:
        if i == len(sizes):
            if all(free < size for size in sizes):
                out.append(acc)
            return
        for k in range(free // sizes[i], -1, -1):
            extend(i + 1, free - k * sizes[i], (*acc, k))

    extend(0, bin_size, ())
    return out


def _pareto_minimal(vectors: set[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """The vectors no other one is componentwise <= to (they have no more replicas left to place), sorted."""
    kept: list[tuple[int, ...]] = []
    for v in sorted(vectors, key=lambda v: (sum(v), v)):
        if not any(all(a <= b for a, b in zip(k, v, strict=True)) for k in kept):
            kept.append(v)
    return kept


# ----------------------------------------------------------------------------------------- checks
