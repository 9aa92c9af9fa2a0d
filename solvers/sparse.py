"""Column and row blocks collected family by family, then turned into the arrays a MILP back-end takes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int32]
IndexArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Block:
    """Consecutive columns or rows of one family; `labels` are the index suffixes of their names."""

    family: str
    first: int
    labels: tuple[str, ...]

    @property
    def stop(self) -> int:
        return self.first + len(self.labels)

    def names(self) -> list[str]:
        return [f"{self.family}_{label}" if label else self.family for label in self.labels]


class Columns:
    """Column blocks appended family by family."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.cost: list[FloatArray] = []
        self.lower: list[FloatArray] = []
        self.upper: list[FloatArray] = []
        self.integer: list[IntArray] = []
        self.count = 0

    def add(
        self,
        family: str,
        labels: Iterable[str],
        *,
        cost: float | FloatArray = 0.0,
        upper: float | FloatArray,
        integer: bool,
    ) -> int:
        labels = tuple(labels)
        n = len(labels)
        first = self.count
        self.blocks.append(Block(family, first, labels))
        self.cost.append(np.broadcast_to(np.asarray(cost, dtype=np.float64), (n,)).copy())
        self.lower.append(np.zeros(n))
        self.upper.append(np.broadcast_to(np.asarray(upper, dtype=np.float64), (n,)).copy())
        self.integer.append(np.full(n, 1 if integer else 0, np.int32))
        self.count += n
        return first

    def arrays(self) -> tuple[FloatArray, FloatArray, FloatArray, IntArray]:
        def cat(parts: list[FloatArray]) -> FloatArray:
            return np.concatenate(parts) if parts else np.zeros(0)

        integer = np.concatenate(self.integer) if self.integer else np.zeros(0, np.int32)
        return cat(self.cost), cat(self.lower), cat(self.upper), integer.astype(np.int32)


class Rows:
    """COO triplets collected family by family, then sorted into CSR once."""

    def __init__(self) -> None:
        self.r: list[IndexArray] = []
        self.c: list[IndexArray] = []
        self.v: list[FloatArray] = []
        self.lo: list[FloatArray] = []
        self.hi: list[FloatArray] = []
        self.blocks: list[Block] = []
        self.count = 0

    def add(
        self,
        family: str,
        labels: Iterable[str],
        rows: IndexArray | Sequence[int],
        cols: IndexArray | Sequence[int],
        vals: FloatArray | Sequence[float],
        lo: FloatArray | Sequence[float],
        hi: FloatArray | Sequence[float],
    ) -> None:
        labels = tuple(labels)
        if not labels:
            return
        self.blocks.append(Block(family, self.count, labels))
        self.r.append(np.asarray(rows, dtype=np.int64) + self.count)
        self.c.append(np.asarray(cols, dtype=np.int64))
        self.v.append(np.asarray(vals, dtype=np.float64))
        self.lo.append(np.asarray(lo, dtype=np.float64))
        self.hi.append(np.asarray(hi, dtype=np.float64))
        self.count += len(labels)

    def csr(self) -> tuple[IntArray, IntArray, FloatArray, FloatArray, FloatArray]:
        rows = np.concatenate(self.r) if self.r else np.zeros(0, np.int64)
        cols = np.concatenate(self.c) if self.c else np.zeros(0, np.int64)
        vals = np.concatenate(self.v) if self.v else np.zeros(0)
        keep = vals != 0.0
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        order = np.lexsort((cols, rows))
        start = np.zeros(self.count + 1, np.int32)
        np.cumsum(np.bincount(rows, minlength=self.count), out=start[1:])
        lo = np.concatenate(self.lo) if self.lo else np.zeros(0)
        hi = np.concatenate(self.hi) if self.hi else np.zeros(0)
        return start, cols[order].astype(np.int32), vals[order], lo, hi


class Sparse:
    """Triplets of a family whose rows are built in a loop."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.labels: list[str] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def row(self, label: str, cols: Sequence[int], vals: Sequence[float], lo: float, hi: float) -> None:
        k = len(self.labels)
        self.labels.append(label)
        self.rows += [k] * len(cols)
        self.cols += list(cols)
        self.vals += list(vals)
        self.lo.append(lo)
        self.hi.append(hi)

    def into(self, rows: Rows, family: str) -> None:
        rows.add(family, self.labels, self.rows, self.cols, self.vals, self.lo, self.hi)
