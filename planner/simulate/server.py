"""What every simulated server keeps, whatever it schedules: the requests assigned to it, how many are in
the system over time (the integral behind the Little's-law check), its busy time and its timeline windows.

`Replica` (an engine, planner.simulate.engine) and `OffloadServer` (a block server, planner.simulate.offload)
both build on `ServerBase`; `RequestTable` holds the per-request inputs and outcomes every server of one run
writes into.
"""

from __future__ import annotations

import math


class RequestTable:
    """Per-request inputs and outcomes, shared by every replica of one run (plain lists: fast scalar access)."""

    def __init__(self, arrival_s: list[float], input_len: list[int], output_len: list[int]) -> None:
        n = len(arrival_s)
        self.arrival_s = arrival_s
        self.input_len = input_len
        self.output_len = output_len
        nan = math.nan
        self.sched_s = [nan] * n  # start of the iteration that first scheduled it
        self.first_s = [nan] * n  # end of the iteration that produced its first token
        self.done_s = [nan] * n
        self.preemptions = [0] * n
        self.rejected = [False] * n
        # scheduler state (each request lives on one replica)
        self.target = [0] * n  # tokens the current prefill must reach (prompt, or prompt + generated)
        self.prog = [0] * n  # tokens of that prefill computed so far
        self.gen = [0] * n  # tokens generated so far
        self.s0 = [0] * n  # decode step counter when it joined the decode batch
        self.heap_tag = [0] * n  # invalidates stale heap entries after a preemption
        self.swapped = [False] * n
        self.transferred = [False] * n  # its KV arrives over the network (a decode pool): admitted without I/O
        self.blocks = [0] * n  # blocks held outside the decode-batch aggregate (prefilling / reserved)


class ServerBase:
    """Arrivals, requests in the system and busy/KV time per timeline window. Feed arrivals with `add` in
    time order; a subclass advances time (`run_until`) and calls `_arrived`, `_leave` and `_account`."""

    def __init__(self, requests: RequestTable, window_s: float, kv_tokens_capacity: int = 1) -> None:
        self.r = requests
        self.t = 0.0
        self.arrivals: list[int] = []
        self.next_arrival = 0
        self.n_sys = 0
        self.last_t = 0.0
        self.area = 0.0  # integral of requests in the system over time (Little's law)
        self.busy_s = 0.0
        self.preempted = 0
        self.completed = 0
        self.running_peak = 0
        self.window_s = window_s
        self.kv_tokens_capacity = kv_tokens_capacity
        self.win_busy: list[float] = []
        self.win_kv: list[float] = []  # integral of KV occupancy (0..1) over time
        self.win_kv_peak: list[float] = []

    def add(self, rid: int) -> None:
        """Assign request `rid` (arrivals must come in time order)."""
        self.arrivals.append(rid)

    @property
    def in_system(self) -> int:
        """Requests assigned and arrived but not finished (what a least-loaded router compares)."""
        return self.n_sys

    def _wait_for_arrival(self, t_stop: float) -> bool:
        """Nothing to run: move the clock to the next arrival; False when none comes by `t_stop`."""
        if self.next_arrival >= len(self.arrivals):
            return False
        ta = self.r.arrival_s[self.arrivals[self.next_arrival]]
        if ta > t_stop:
            return False
        self.t = max(self.t, ta)
        return True

    def _arrived(self, ta: float) -> None:
        """The in-system integral up to an arrival at `ta` (the caller then counts the request in)."""
        if ta >= self.last_t:
            self.area += self.n_sys * (ta - self.last_t)
            self.last_t = ta
        else:  # arrived during an iteration already accounted for: in the system since ta
            self.area += self.last_t - ta

    def _leave(self, t: float, count: int) -> None:
        self.area += self.n_sys * (t - self.last_t)
        self.last_t = t
        self.n_sys -= count

    def _account(self, t0: float, t1: float, kv_mean_tokens: float = 0.0, kv_end_tokens: float = 0.0) -> None:
        """Busy time and KV occupancy of an interval, spread over the timeline's windows."""
        dt = t1 - t0
        if dt <= 0.0:
            return
        self.busy_s += dt
        w = self.window_s
        occ = kv_mean_tokens / self.kv_tokens_capacity
        peak = kv_end_tokens / self.kv_tokens_capacity
        i0, i1 = int(t0 / w), int(t1 / w)
        need = i1 + 1 - len(self.win_busy)
        if need > 0:
            self.win_busy.extend([0.0] * need)
            self.win_kv.extend([0.0] * need)
            self.win_kv_peak.extend([0.0] * need)
        for i in range(i0, i1 + 1):
            a = max(t0, i * w)
            b = min(t1, (i + 1) * w)
            if b > a:
                self.win_busy[i] += b - a
                self.win_kv[i] += occ * (b - a)
                if peak > self.win_kv_peak[i]:
                    self.win_kv_peak[i] = peak
