"""Inter-instance networks in the catalog: shipped facts, lookup by offering, overlays."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from catalog.loader import load_catalog, shipped_catalog
from planner.errors import CatalogError


def test_every_shipped_network_has_a_source_and_a_known_fabric() -> None:
    cat = shipped_catalog()
    assert {"efa", "infiniband", "roce", "ethernet"} <= {n.fabric for n in cat.networks.values()}
    for nid, net in cat.networks.items():
        assert nid == f"{net.cloud}:{net.instance_type}"
        assert net.source and net.as_of
        assert net.bandwidth_gbit_s > 0 and net.latency_us > 0


def test_offerings_find_their_instance_types_network() -> None:
    cat = shipped_catalog()
    p5 = cat.offerings["aws:us-east-1:p5.48xlarge"]
    net = cat.network(p5)
    assert net is not None and net.fabric == "efa"
    # 3200 Gbit/s shared by 8 GPUs = 50 GB/s each
    assert net.gpu_bytes_per_s(p5.gpus_per_instance) == pytest.approx(50e9)
    lambda_h100 = next(o for o in cat.offerings.values() if o.cloud == "lambda")
    assert cat.network(lambda_h100) is None  # unknown fabric: never guessed


def test_an_overlay_adds_and_overrides_networks(tmp_path: Path) -> None:
    doc = {
        "schema_version": 1,
        "networks": [
            {"cloud": "aws", "instance_type": "p5.48xlarge", "bandwidth_gbit_s": 1600},
            {
                "cloud": "lambda",
                "instance_type": "gpu_8x_h100_sxm5",
                "fabric": "infiniband",
                "bandwidth_gbit_s": 3200,
                "latency_us": 5,
                "gpudirect_rdma": True,
            },
        ],
    }
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    cat = load_catalog((path,))
    p5 = cat.networks["aws:p5.48xlarge"]
    assert p5.bandwidth_gbit_s == 1600 and p5.fabric == "efa" and "overridden" in p5.source
    added = cat.networks["lambda:gpu_8x_h100_sxm5"]
    assert added.source.startswith("user catalog overlay")
    assert cat.version != shipped_catalog().version


def test_a_bad_network_entry_names_the_field(tmp_path: Path) -> None:
    doc = {"schema_version": 1, "networks": [{"cloud": "x", "instance_type": "y", "fabric": "nvlink"}]}
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(CatalogError) as err:
        load_catalog((path,))
    assert "networks[0]" in str(err.value.where) and "fabric" in err.value.message
