"""An offloaded replica (FlexGen-style placement, `solvers.placement`) as a block server.

The placement LP serves requests in blocks of `sequences_per_batch` sequences that run in lock-step: the
whole block is prefilled (`prefill_s`), then decoded (`decode_s`), and every request of the block finishes
at its end. The server takes up to a block of requests from the head of its queue whenever it is free;
a block costs the placement of its longest request's bucket (shorter prompts are padded), so a partly
filled block costs a full one. The first token of a request comes at the end of the block's prefill.

Block times come from the same placement search the planner priced the candidate with.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from planner.simulate.server import RequestTable, ServerBase


@dataclass(frozen=True)
class BlockTimes:
    """One bucket's placement: sequences per block and the block's prefill and decode seconds."""

    sequences: int
    prefill_s: float
    decode_s: float


class OffloadServer(ServerBase):
    """Same interface as `engine.Replica` (add, run_until, in_system, accounting)."""

    def __init__(self, requests: RequestTable, block_of: dict[int, BlockTimes], window_s: float) -> None:
        super().__init__(requests, window_s)
        self.block_of = block_of  # request -> its bucket's block times (missing: cannot be served)
        self.queue: deque[int] = deque()

    def _ingest(self, upto: float) -> None:
        times = self.r.arrival_s
        while self.next_arrival < len(self.arrivals) and times[self.arrivals[self.next_arrival]] <= upto:
            rid = self.arrivals[self.next_arrival]
            ta = times[rid]
            self._arrived(ta)
            self.next_arrival += 1
            if rid not in self.block_of:
                self.r.rejected[rid] = True
                self.r.done_s[rid] = ta
                continue
            self.n_sys += 1
            self.queue.append(rid)

    def run_until(self, t_stop: float = math.inf) -> None:
        r = self.r
        while True:
            self._ingest(self.t)
            if not self.queue:
                if not self._wait_for_arrival(t_stop):
                    return
                continue
            if self.t >= t_stop:
                return
            head = self.block_of[self.queue[0]]
            block = [self.queue.popleft() for _ in range(min(head.sequences, len(self.queue)))]
            times = [self.block_of[rid] for rid in block]
            prefill = max(b.prefill_s for b in times)
            decode = max(b.decode_s for b in times)
            t0 = self.t
            t1 = t0 + prefill + decode
            self.running_peak = max(self.running_peak, len(block))
            for rid in block:
                r.sched_s[rid] = t0
                r.first_s[rid] = t0 + prefill
                r.done_s[rid] = t1
            self.t = t1
            self._ingest(t1)
            self._account(t0, t1)  # an offloaded server reports no KV occupancy
            self._leave(t1, len(block))
            self.completed += len(block)
