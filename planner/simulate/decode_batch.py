"""The decode batch of one engine replica, held in aggregate, and its KV block count.

Split from planner.simulate.engine (issue 18). Decoding sequences are not stepped one by one: the batch is
a step counter `S`, a size, a context sum, a heap of finishing steps and the number of sequences per block
phase ((tokens - S) mod B), which is what lets `Replica` advance a stretch of decode-only steps at once. This
module holds that state and the arithmetic over it (blocks needed for k more steps, steps until the KV cache
is full, joining and leaving the batch); the scheduler that admits, preempts and runs iterations is
`Replica` (planner.simulate.engine), which extends `DecodeBatch`.
"""

from __future__ import annotations

import heapq

from planner.simulate.policy import SchedulerPolicy
from planner.simulate.server import RequestTable, ServerBase
from planner.simulate.timing import EngineLimits


class DecodeBatch(ServerBase):
    """KV blocks and the aggregated decode batch of one replica (the state `Replica` schedules over)."""

    def __init__(self, requests: RequestTable, window_s: float, limits: EngineLimits, policy: SchedulerPolicy) -> None:
        super().__init__(requests, window_s, max(limits.kv_tokens, 1))
        self.policy = policy
        self.B = policy.block_tokens
        self.total_blocks = limits.kv_tokens // self.B
        # the decode batch, in aggregate
        self.S = 0  # decode step counter
        self.n_dec = 0
        self.ctx_sum = 0  # KV tokens held by decoding sequences
        self.heap: list[tuple[int, int, int]] = []  # (finishing step count, tag, request)
        self.phase = [0] * self.B  # decoding sequences by (tokens - S) mod B
        self.used_blocks = 0

    def _blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.B)

    def _free(self) -> int:
        return self.total_blocks - self.used_blocks

    def _kv_tokens(self) -> float:
        return self.used_blocks * self.B

    def _new_blocks(self, steps: int) -> int:
        """Blocks the decode batch allocates over the next `steps` steps (on-demand allocation)."""
        if self.policy.reserve_full or steps <= 0 or self.n_dec == 0:
            return 0
        B = self.B
        full, rest = divmod(steps, B)
        total = full * self.n_dec
        S = self.S
        ph = self.phase
        for j in range(rest):
            total += ph[(-(S + j)) % B]
        return total

    def _steps_until_kv_full(self, limit: int) -> int:
        """Largest k <= limit such that the decode batch's next k steps find their blocks free."""
        if self.policy.reserve_full:
            return limit
        free = self._free()
        n = self.n_dec
        B = self.B
        if free >= n * (limit // B + 1):
            return limit
        S = self.S
        ph = self.phase
        k = 0
        cycles = free // n if n else limit
        if cycles > 0:
            k = min(cycles * B, limit // B * B)
            free -= (k // B) * n
        while k < limit:
            need = ph[(-(S + k)) % B]
            if need > free:
                return k
            free -= need
            k += 1
        return limit

    def _join(self, rid: int, tokens: int) -> None:
        """`rid` (holding KV for `tokens` tokens) starts decoding at the current step count."""
        r = self.r
        S = self.S
        r.s0[rid] = S
        key = S + r.output_len[rid] - r.gen[rid]
        heapq.heappush(self.heap, (key, r.heap_tag[rid], rid))
        self.n_dec += 1
        self.ctx_sum += tokens
        r.target[rid] = tokens  # KV tokens at join (base of the decode phase)
        if not self.policy.reserve_full:
            self.phase[(tokens - S) % self.B] += 1
            # blocks move from the per-request count into the aggregate
            r.blocks[rid] = 0

    def _decode_tokens(self, rid: int) -> int:
        r = self.r
        return r.target[rid] + (self.S - r.s0[rid])

    def _drop_from_decode(self, rid: int) -> int:
        """Remove a decoding request from the batch; returns the blocks it held."""
        r = self.r
        tokens = self._decode_tokens(rid)
        self.n_dec -= 1
        self.ctx_sum -= tokens
        r.heap_tag[rid] += 1
        if self.policy.reserve_full:
            blocks = r.blocks[rid]
        else:
            self.phase[(r.target[rid] - r.s0[rid]) % self.B] -= 1
            blocks = self._blocks_for(tokens)
        r.blocks[rid] = 0
        return blocks

    def _into_decode(self, rid: int, tokens: int) -> None:
        r = self.r
        if not self.policy.reserve_full:
            self.used_blocks -= r.blocks[rid]
            self.used_blocks += self._blocks_for(tokens)  # same blocks, now counted in the aggregate
        self._join(rid, tokens)

    def _pop_finished(self, done: list[int]) -> None:
        heap = self.heap
        r = self.r
        S = self.S
        while heap and heap[0][0] <= S:
            _, tag, rid = heapq.heappop(heap)
            if tag != r.heap_tag[rid]:
                continue
            blocks = self._drop_from_decode(rid)
            self.used_blocks -= blocks
            r.gen[rid] = r.output_len[rid]
            done.append(rid)

    def _top_key(self) -> int:
        heap = self.heap
        tags = self.r.heap_tag
        while heap and heap[0][1] != tags[heap[0][2]]:
            heapq.heappop(heap)
        return heap[0][0]
