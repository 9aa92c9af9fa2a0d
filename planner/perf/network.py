"""Moving bytes between instances: the link a replica's GPUs use to reach GPUs of another instance.

Two things cross the network between instances: activations between pipeline stages of a replica that
spans instances, and the KV cache of a request from a prefill replica to a decode replica. Both are
point-to-point transfers, each GPU sending its own shard over its share of the instance's NICs:

    transfer(bytes) = latency + bytes / (gpus x per-GPU NIC bandwidth x NETWORK_EFFICIENCY)

The per-GPU share and the latency are catalog facts of the instance type (catalog/data/networks.yaml);
a path between two different instances runs at the slower end's rate and the larger latency.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.types import InstanceNetwork

NETWORK_EFFICIENCY = 0.8
"""Achieved share of the NICs' line rate for large point-to-point transfers: nccl-tests send/recv and NIXL
(UCX) reach 80-90 % of 400 Gbit/s InfiniBand/EFA per NIC; 0.8 is the lower end, so transfer times are
not optimistic. One global constant, not fitted per case."""


@dataclass(frozen=True)
class Link:
    """A path between the GPUs of one replica and those of another instance: bytes/s as achieved, and
    the latency of one message."""

    bytes_per_s: float
    latency_s: float
    fabric: str  # efa / infiniband / roce / ethernet, or "a+b" for a path between two fabrics

    def transfer_s(self, nbytes: float) -> float:
        """Seconds to move `nbytes` over this link (one message)."""
        return self.latency_s + nbytes / self.bytes_per_s

    def describe(self) -> str:
        return f"{self.fabric} {self.bytes_per_s * 8 / 1e9:.0f} Gbit/s achieved, {self.latency_s * 1e6:.0f} us"


def replica_link(net: InstanceNetwork, gpus_per_instance: int, gpus: int) -> Link:
    """The link `gpus` GPUs of an instance reach other instances with: their share of its NICs."""
    share = min(gpus, gpus_per_instance)
    return Link(
        bytes_per_s=net.gpu_bytes_per_s(gpus_per_instance) * share * NETWORK_EFFICIENCY,
        latency_s=net.latency_us * 1e-6,
        fabric=net.fabric,
    )


def between(a: Link, b: Link) -> Link:
    """The path from one replica's GPUs to another's: the slower end's rate, the larger latency."""
    fabric = a.fabric if a.fabric == b.fabric else f"{a.fabric}+{b.fabric}"
    return Link(min(a.bytes_per_s, b.bytes_per_s), max(a.latency_s, b.latency_s), fabric)
