"""One replica of an inference engine, simulated iteration by iteration.

Scheduler semantics (continuous batching, as vLLM V1 / SGLang / TensorRT-LLM implement it):

- Every iteration runs all decoding sequences (one token each) and, within the token budget
  (`max_num_batched_tokens`), prefill chunks: first the unfinished prompts of running sequences, then
  new requests from the waiting queue in arrival order (head-of-line blocking), while fewer than
  `max_num_seqs` sequences run and the KV cache has the blocks for the chunk. A prompt longer than the
  budget left is split into chunks (chunked prefill). Engines that do not mix prefill and decode in one
  batch (SGLang's default) run a prefill-only iteration whenever a request can be admitted; decodes wait.
- An overlap scheduler (SGLang's default) composes each iteration while the one before it runs, so it sees
  only the requests that arrived before that one started: a request arriving during an iteration is
  scheduled in the iteration after the next (unless nothing runs, when it is read at once).
- KV blocks (`block_tokens` tokens each) are allocated as sequences grow. When a decode step needs a block
  and none is free, the most recently admitted running sequence is preempted: with `recompute` its blocks
  are freed and it re-enters the front of the queue, to prefill its prompt and the tokens generated so far
  again; with `swap` its KV is copied to host memory over PCIe and back when it resumes. Engines that
  reserve a request's whole KV at admission (TensorRT-LLM's GUARANTEED_NO_EVICT) never preempt.
- Optional prefix caching: a share of every prompt's tokens (whole blocks) is found in the cache and not
  prefilled.
- A request whose prompt plus output can never fit the KV cache (or the model's context) is rejected.
- A decode-only replica (the decode pool of disaggregated serving) receives requests whose prompt was
  prefilled elsewhere: `arrives_with_kv` marks them; at admission they take the KV blocks of their prompt
  (the cache sent over the network) and join the decode batch with their first token already produced.

The scheduling policy of each engine is planner.simulate.policy's; the decode batch (held in aggregate) and
the KV block count are planner.simulate.decode_batch's `DecodeBatch`, which `Replica` extends.

Latencies of iterations come from `IterationTimes` (the estimator). Stretches of iterations that only
decode a fixed batch are advanced in one step (until the next arrival, completion, KV exhaustion or the
caller's horizon), which keeps the simulation fast: the work is per request, not per token.

Times are seconds. The first token of a request is produced by the iteration that finishes its prompt;
TTFT ends with that iteration. Queueing delay is arrival to the start of the iteration that first
schedules the request.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from planner.simulate.decode_batch import DecodeBatch
from planner.simulate.policy import SchedulerPolicy
from planner.simulate.server import RequestTable
from planner.simulate.timing import EngineLimits, IterationTimes


def arrives_with_kv(table: RequestTable, rid: int, at_s: float) -> None:
    """Request `rid` reaches a decode-only replica at `at_s` with its prompt's KV cache and its first token:
    it is admitted like a request swapped back in, without the swap-in cost."""
    table.arrival_s[rid] = at_s
    table.swapped[rid] = True
    table.transferred[rid] = True
    table.gen[rid] = 1


class Replica(DecodeBatch):
    """One replica's engine. Feed arrivals with `add` in time order; `run_until` advances time."""

    def __init__(
        self,
        requests: RequestTable,
        times: IterationTimes,
        limits: EngineLimits,
        policy: SchedulerPolicy,
        *,
        prefix_hit_share: float = 0.0,
        window_s: float = 60.0,
        max_position: int | None = None,
    ) -> None:
        super().__init__(requests, window_s, limits, policy)
        self.times = times
        self.watermark = int(policy.watermark_share * self.total_blocks)
        self.budget = limits.max_batched_tokens
        self.max_seqs = min(limits.max_seqs, limits.max_batched_tokens)
        self.prefix_hit = prefix_hit_share
        self.max_position = max_position
        self.swap_s_per_token = limits.kv_bytes_per_token_per_gpu / limits.host_link_bytes_per_s
        # queues
        self.waiting: deque[int] = deque()
        self.order: dict[int, None] = {}  # running requests (prefilling or decoding), in admission order
        self.prefilling: list[int] = []  # running requests with prompt tokens left, in admission order
        self.read_upto = -math.inf  # overlap scheduler: arrivals up to this time are seen by the next iteration
        # accounting beyond ServerBase
        self.kv_peak_blocks = 0
        self.on_done: Callable[[int, float], None] | None = None  # closed-loop clients send their next request

    # ------------------------------------------------------------------ input

    def _ingest(self, upto: float) -> None:
        arr = self.arrivals
        i = self.next_arrival
        times = self.r.arrival_s
        while i < len(arr) and times[arr[i]] <= upto:
            rid = arr[i]
            ta = times[rid]
            self._arrived(ta)
            self.n_sys += 1
            if self._admissible_ever(rid):
                self.r.target[rid] = self.r.input_len[rid]
                self.waiting.append(rid)
            else:
                self.r.rejected[rid] = True
                self.r.done_s[rid] = ta
                self.area -= max(self.last_t - ta, 0.0)
                self.n_sys -= 1
            i += 1
        self.next_arrival = i

    def _admissible_ever(self, rid: int) -> bool:
        total = self.r.input_len[rid] + self.r.output_len[rid]
        if self.max_position is not None and total > self.max_position:
            return False
        return -(-total // self.B) <= self.total_blocks - self.watermark

    # ------------------------------------------------------------------ main loop

    def run_until(self, t_stop: float = math.inf) -> None:
        """Run every iteration that starts before `t_stop` (the last may end after it); with t_stop = inf,
        until all assigned requests finish. A request added later with an arrival time at or after
        `t_stop` joins the first iteration that starts after it arrives, as on a real engine."""
        r = self.r
        while True:
            self._ingest(self.t)
            if not self.order:  # no iteration in flight: the scheduler reads arrivals at once
                self.read_upto = self.t
            if not self.order and not self.waiting:
                if not self._wait_for_arrival(t_stop):
                    return
                continue
            if self.t >= t_stop:
                return
            if self.prefilling or (self.waiting and self._head_admissible()):
                self._iteration()
            elif self.n_dec > 0:
                self._stretch(t_stop)
            else:  # nothing runs and the head cannot be admitted: it can never run
                rid = self.waiting.popleft()
                r.rejected[rid] = True
                r.done_s[rid] = self.t
                self._leave(self.t, 1)

    # ------------------------------------------------------------------ helpers

    def _visible(self, rid: int) -> bool:
        """Whether the scheduler has read request `rid` when it composes the next iteration."""
        return not self.policy.launch_ahead or self.r.arrival_s[rid] <= self.read_upto

    def _head_admissible(self) -> bool:
        if len(self.order) >= self.max_seqs or not self._visible(self.waiting[0]):
            return False
        budget = self.budget - (self.n_dec if self.policy.mixed_batches else 0)
        if budget <= 0:
            return False
        rid = self.waiting[0]
        return self._admission_blocks(rid, budget)[0] <= self._free() - self.watermark

    def _admission_blocks(self, rid: int, budget: int) -> tuple[int, int, int]:
        """(blocks to allocate, prefill tokens this iteration, tokens already computed) to admit `rid`."""
        r = self.r
        if r.swapped[rid]:
            tokens = r.target[rid] + (r.gen[rid] - 1)
            return self._blocks_for(tokens), 0, 0
        start = 0
        if self.prefix_hit > 0.0 and r.gen[rid] == 0:
            start = int(self.prefix_hit * r.input_len[rid]) // self.B * self.B
            start = min(start, r.input_len[rid] - 1)
        n = min(r.target[rid] - start, budget)
        if self.policy.reserve_full:
            blocks = self._blocks_for(r.input_len[rid] + r.output_len[rid])
        else:
            blocks = self._blocks_for(start + n)
        return blocks, n, start

    def _preempt_one(self) -> float:
        """Preempt the most recently admitted running request; returns swap-out seconds (0 for recompute)."""
        r = self.r
        rid = next(reversed(self.order))
        del self.order[rid]
        extra = 0.0
        if rid in self.prefilling:
            self.prefilling.remove(rid)
            blocks = r.blocks[rid]
            r.blocks[rid] = 0
            self.used_blocks -= blocks
            r.prog[rid] = 0
            if r.gen[rid] == 0:
                r.target[rid] = r.input_len[rid]
        else:
            tokens = self._decode_tokens(rid)
            gen_now = r.gen[rid] + (self.S - r.s0[rid])
            blocks = self._drop_from_decode(rid)
            self.used_blocks -= blocks
            r.gen[rid] = gen_now
            if self.policy.preemption == "swap":
                r.swapped[rid] = True
                r.target[rid] = tokens - (gen_now - 1)  # so that target + gen - 1 = tokens on resume
                extra = tokens * self.swap_s_per_token
            else:
                r.target[rid] = r.input_len[rid] + gen_now
                r.prog[rid] = 0
        r.preemptions[rid] += 1
        self.preempted += 1
        self.waiting.appendleft(rid)
        return extra

    # ------------------------------------------------------------------ one iteration with prefill work

    def _iteration(self) -> None:  # noqa: C901 - one scheduler step, kept in the order the engine takes it
        """Schedule and run one iteration that prefills (and, in mixed engines, decodes)."""
        r = self.r
        pol = self.policy
        t0 = self.t
        extra_s = 0.0
        preempted = False
        decode = pol.mixed_batches and self.n_dec > 0
        budget = self.budget
        if decode:
            while self._new_blocks(1) > self._free() and self.order:
                extra_s += self._preempt_one()
                preempted = True
            decode = self.n_dec > 0
            budget -= self.n_dec
        if decode:
            self.used_blocks += self._new_blocks(1)
        chunks: list[tuple[int, int, int]] = []  # (request, tokens, computed before)
        for rid in self.prefilling:
            if budget <= 0:
                break
            n = min(r.target[rid] - r.prog[rid], budget)
            more = 0 if pol.reserve_full else self._blocks_for(r.prog[rid] + n) - self._blocks_for(r.prog[rid])
            if more > self._free():
                continue
            self.used_blocks += more
            r.blocks[rid] += more
            chunks.append((rid, n, r.prog[rid]))
            budget -= n
        resumed: list[int] = []
        waiting = self.waiting
        # like vLLM, no new admissions in an iteration that had to preempt
        while not preempted and waiting and budget > 0 and len(self.order) < self.max_seqs:
            rid = waiting[0]
            if not self._visible(rid):
                break
            blocks, n, start = self._admission_blocks(rid, budget)
            if blocks > self._free() - self.watermark:
                break
            waiting.popleft()
            self.used_blocks += blocks
            self.order[rid] = None
            if r.sched_s[rid] != r.sched_s[rid]:  # NaN: scheduled for the first time
                r.sched_s[rid] = t0
            r.blocks[rid] = blocks
            if r.swapped[rid]:
                r.swapped[rid] = False
                if r.transferred[rid]:  # its KV came from a prefill pool: already in the blocks just allocated
                    r.transferred[rid] = False
                    self.running_peak = max(self.running_peak, len(self.order))
                else:
                    extra_s += (r.target[rid] + r.gen[rid] - 1) * self.swap_s_per_token
                resumed.append(rid)
                continue
            if len(self.order) > self.running_peak:
                self.running_peak = len(self.order)
            r.prog[rid] = start
            self.prefilling.append(rid)
            chunks.append((rid, n, start))
            budget -= n
        if not decode and not chunks and not resumed:
            if extra_s > 0.0 or preempted:
                self._account(t0, t0 + extra_s, self._kv_tokens(), self._kv_tokens())
                self.t = t0 + extra_s
            elif self.order:  # every prompt in progress is stuck for blocks: free the newest one
                self._preempt_one()
            return
        times = self.times
        work = 0.0
        for _, n, before in chunks:
            work += times.prefill_chunk_s(n, before)
        # a pass of its own while others decode (SGLang) costs a pipeline one stage's pass, and its prompts'
        # first tokens come out after the other stages; alone, it crosses every stage in turn
        busy_pass = bool(chunks) and not decode and self.n_dec > 0
        if decode:
            dt = times.decode_step_s(self.n_dec, self.ctx_sum / self.n_dec) + work
        elif chunks:
            dt = (times.busy_base_s if busy_pass else times.idle_base_s)(chunks[0][1]) + work
        else:
            dt = 0.0
        t1 = t0 + dt + extra_s
        kv_before = self._kv_tokens()
        if self.used_blocks > self.kv_peak_blocks:
            self.kv_peak_blocks = self.used_blocks
        self.t = t1
        self.read_upto = t0  # the next iteration was composed when this one started
        self._ingest(t1)
        done: list[int] = []
        lag = times.first_token_lag_s(chunks[0][1]) if busy_pass else 0.0
        if decode:
            self.S += 1
            self.ctx_sum += self.n_dec
        for rid, n, _ in chunks:
            r.prog[rid] += n
            if r.prog[rid] < r.target[rid]:
                continue
            self.prefilling.remove(rid)
            if r.gen[rid] == 0:
                r.first_s[rid] = t1 + lag
            r.gen[rid] += 1
            if r.gen[rid] >= r.output_len[rid]:
                done.append(rid)
                continue
            self._into_decode(rid, r.target[rid])
        for rid in resumed:
            self._into_decode(rid, r.target[rid] + r.gen[rid] - 1)
        self._account(t0, t1, 0.5 * (kv_before + self._kv_tokens()), self._kv_tokens())
        if decode:
            self._pop_finished(done)
        self._finish(done, t1)

    def _finish(self, done: list[int], t: float) -> None:
        if not done:
            return
        r = self.r
        for rid in done:
            r.done_s[rid] = t
            if r.blocks[rid]:
                self.used_blocks -= r.blocks[rid]
                r.blocks[rid] = 0
            del self.order[rid]
        self.completed += len(done)
        self._leave(t, len(done))
        if self.on_done is not None:
            for rid in done:
                self.on_done(rid, t)

    # ------------------------------------------------------------------ decode-only stretches

    def _stretch(self, t_stop: float) -> None:
        """Decode a fixed batch for as many steps as nothing else can happen: until the first completion,
        the step that would find no free KV block, the next arrival (when the queue is empty) or the first
        iteration boundary at or after `t_stop`."""
        n = self.n_dec
        k_done = self._top_key() - self.S
        k = self._steps_until_kv_full(k_done)
        if k == 0:
            extra = 0.0
            while self._new_blocks(1) > self._free() and self.n_dec > 0:
                extra += self._preempt_one()
            if extra > 0.0:
                self._account(self.t, self.t + extra, self._kv_tokens(), self._kv_tokens())
                self.t += extra
            return
        times = self.times
        c0 = self.ctx_sum / n
        horizon = t_stop
        ahead = 0  # steps after the arrival's boundary before the scheduler has read it
        if self.waiting and not self._visible(self.waiting[0]):
            horizon, ahead = min(horizon, self.r.arrival_s[self.waiting[0]]), 1
        elif not self.waiting and self.next_arrival < len(self.arrivals):
            ta = self.r.arrival_s[self.arrivals[self.next_arrival]]
            if ta < horizon:
                horizon, ahead = ta, int(self.policy.launch_ahead)
        delta = horizon - self.t
        if times.decode_stretch_s(n, c0, k) >= delta:
            to = self._steps_to(n, c0, delta, k) if delta > 0.0 else 0  # steps to the arrival's boundary
            k = max(1, min(to + ahead, k))
        t0 = self.t
        t1 = t0 + times.decode_stretch_s(n, c0, k)
        if self.policy.launch_ahead:
            # the last step's start: what the next iteration's scheduler has read
            self.read_upto = t0 + times.decode_stretch_s(n, c0, k - 1)
        kv0 = self._kv_tokens()
        self.used_blocks += self._new_blocks(k)
        if self.used_blocks > self.kv_peak_blocks:
            self.kv_peak_blocks = self.used_blocks
        self.S += k
        self.ctx_sum += n * k
        self.t = t1
        self._ingest(t1)
        self._account(t0, t1, 0.5 * (kv0 + self._kv_tokens()), self._kv_tokens())
        done: list[int] = []
        self._pop_finished(done)
        self._finish(done, t1)

    def _steps_to(self, n: int, c0: float, delta: float, k_max: int) -> int:
        """Smallest k in [1, k_max] whose stretch of k steps lasts at least `delta` seconds."""
        if delta <= 0.0:
            return 1
        stretch = self.times.decode_stretch_s
        step0 = stretch(n, c0, 1)
        k = max(1, min(k_max, math.ceil(delta / step0)))
        k = max(1, min(k_max, math.ceil(delta * k / max(stretch(n, c0, k), 1e-300))))
        while k < k_max and stretch(n, c0, k) < delta:
            k += 1
        while k > 1 and stretch(n, c0, k - 1) >= delta:
            k -= 1
        return k
