"""Host profiles for offloading: the shipped hosts.yaml, and hosts derived from cloud offerings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from catalog.loader import load_catalog
from catalog.types import HostProfile, Offering
from solvers.errors import SolverArgumentError
from solvers.placement_hosts import flexgen_t4_host, host_from_offering, host_id, host_with_sizes
from tests.placement_fixtures import FLEXGEN_T4, GPUS

HOSTS_YAML = Path(__file__).resolve().parent.parent / "catalog" / "data" / "hosts.yaml"


def _offering(**kw: object) -> Offering:
    base: dict[str, object] = dict(
        id="aws:us-east-1:g4dn.12xlarge",
        cloud="aws",
        region="us-east-1",
        instance_type="g4dn.12xlarge",
        gpu="t4",
        gpus_per_instance=4,
        price_usd_per_hour=3.912,
        vcpus=48,
        cpu_mem_gb=206.2,
        source="test",
        as_of="2025",
    )
    base.update(kw)
    return Offering(**base)  # type: ignore[arg-type]


def test_shipped_hosts_file_is_valid_and_cited() -> None:
    doc = yaml.safe_load(HOSTS_YAML.read_text())
    assert doc["schema_version"] == 1
    hosts = [HostProfile(**h) for h in doc["hosts"]]
    assert len({h.id for h in hosts}) == len(hosts)
    for h in hosts:
        assert h.source and h.as_of
    fg = next(h for h in hosts if h.id == "flexgen-t4")
    assert "2303.06865" in fg.source
    assert fg == flexgen_t4_host()
    # the FlexGen paper machine: 208 GB DRAM, 1.5 TB NVMe, the cost model's measured bandwidths
    assert (fg.cpu_mem_gb, fg.disk_gb, fg.cpu_to_gpu_gb_per_s, fg.gpu_to_cpu_gb_per_s) == (208, 1500, 12.89, 4.82)
    assert (fg.disk_to_cpu_gb_per_s, fg.cpu_to_disk_gb_per_s) == (2.65, 2.015)  # read: the NVMe devices' rated speed
    assert fg == FLEXGEN_T4.model_copy(update={"source": fg.source, "notes": fg.notes})


def test_catalog_loads_the_hosts_and_derived_ones_match_their_offering() -> None:
    cat = load_catalog()
    assert "flexgen-t4" in cat.hosts
    gpus_with_host = set()
    for off in cat.offerings.values():
        h = cat.hosts.get(host_id(off))
        if h is None:
            continue
        gpus_with_host.add(off.gpu)
        derived = host_from_offering(off, cat.gpus[off.gpu], local_disk_gb=h.disk_gb * off.gpus_per_instance)
        assert derived.model_dump(exclude={"notes"}) == h.model_dump(exclude={"notes"})
    assert {"t4", "l4", "a10g", "a100-40gb", "a100-80gb"} <= gpus_with_host


def test_derived_t4_host_reproduces_flexgen_link_and_shares_a_multi_gpu_instance() -> None:
    h = host_from_offering(_offering(), GPUS["t4"], local_disk_gb=900)
    assert h.id == "aws-g4dn-12xlarge"
    assert h.cpu_to_gpu_gb_per_s == pytest.approx(12.89)  # PCIe Gen3 x16, FlexGen's measured efficiency
    assert h.cpu_mem_gb == pytest.approx(206.2 / 4, abs=0.05)
    assert h.disk_gb == pytest.approx(225)
    assert h.disk_to_cpu_gb_per_s == pytest.approx(0.473)  # no catalog figure: FlexGen's conservative default


def test_derived_gen4_host_has_twice_the_link_and_uses_a_stated_disk_speed() -> None:
    off = _offering(gpu="a10g", gpus_per_instance=1, vcpus=16, cpu_mem_gb=68.7, disk_gb=600, disk_read_gb_per_s=2.0)
    h = host_from_offering(off, GPUS["a10g"])
    assert h.cpu_to_gpu_gb_per_s == pytest.approx(2 * 12.89)
    assert h.disk_gb == 600 and h.disk_to_cpu_gb_per_s == 2.0
    assert h.cpu_mem_bandwidth_gb_per_s == pytest.approx(128 * 16 / 32)


def test_offering_without_ram_asks_for_the_flag() -> None:
    with pytest.raises(SolverArgumentError, match="no cpu_mem_gb"):
        host_from_offering(_offering(cpu_mem_gb=None), GPUS["t4"])


def test_size_flags_override_the_profile_but_keep_its_bandwidths() -> None:
    h = host_with_sizes(FLEXGEN_T4, 64.0, None)
    assert (h.cpu_mem_gb, h.disk_gb, h.cpu_to_gpu_gb_per_s) == (64.0, 1500, 12.89)
    assert host_with_sizes(FLEXGEN_T4, None, None) is FLEXGEN_T4
    with pytest.raises(SolverArgumentError) as info:
        host_with_sizes(FLEXGEN_T4, None, -1.0)
    assert info.value.argument == "disk_gb"
