"""The SkyPilot snapshot shipped in catalog/data/skypilot: every row accounted for, every known fault handled."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from catalog.loader import DATA_DIR, import_snapshot, load_catalog
from catalog.skypilot import RowOutcome, gpu_for, gpu_info_fields, normalise_accelerator, parse_gpu_info
from catalog.types import Catalog

SNAPSHOT = DATA_DIR / "skypilot"


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def outcomes(cat: Catalog) -> dict[str, list[RowOutcome]]:
    return {cloud: list(rep.rows) for cloud, rep in import_snapshot(DATA_DIR, cat.gpus).items()}


def _source_rows() -> dict[str, int]:
    """GPU rows per cloud, counted straight from the CSV files (independently of the importer)."""
    counts: dict[str, int] = {}
    for path in sorted(SNAPSHOT.glob("v8/*/vms.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            counts[path.parent.name] = sum(1 for row in csv.DictReader(fh) if row["AcceleratorName"].strip())
    return counts


def test_every_row_has_exactly_one_outcome(outcomes: dict[str, list[RowOutcome]]) -> None:
    rows = _source_rows()
    assert sum(rows.values()) == 1204 and len(rows) == 16
    with (SNAPSHOT / "manifest.csv").open(encoding="utf-8") as fh:
        manifest = {r["cloud"]: int(r["gpu_rows"]) for r in csv.DictReader(fh)}
    assert rows == manifest
    for cloud, n in rows.items():
        lines = [o.line for o in outcomes[cloud]]
        assert len(lines) == n == len(set(lines)), cloud


def test_offering_and_folded_rows_are_in_the_catalog(cat: Catalog, outcomes: dict[str, list[RowOutcome]]) -> None:
    status: Counter[str] = Counter()
    for cloud, rows in outcomes.items():
        for o in rows:
            status[o.status] += 1
            if o.status in ("offering", "folded"):
                assert cat.offerings[o.offering].cloud == cloud, o
            else:
                assert o.reason and not o.offering, o
    assert status["offering"] == len([o for o in cat.offerings.values() if "skypilot-catalog@" in o.source
                                      and o.cloud not in ("aws", "gcp", "azure", "runpod")])
    assert status["offering"] > 1100 and status["skipped"] <= 12


def test_unknown_gpus_are_reported_not_dropped(outcomes: dict[str, list[RowOutcome]]) -> None:
    skipped = [o for rows in outcomes.values() for o in rows if o.status == "skipped"]
    unknown = Counter(o.accelerator for o in skipped if o.reason.startswith("no GPU spec"))
    assert unknown == {"RTXA2000": 3, "RTX3060": 2, "RTX3070": 2, "GAUDI2": 1, "RTX3080": 1, "RTX4060": 1,
                       "RTX4070": 1}
    (modded,) = [o for o in skipped if not o.reason.startswith("no GPU spec")]
    assert modded.cloud == "vast" and "48 GiB per GPU, rtx-4090 has 24 GB" in modded.reason


def test_placeholder_spot_prices_are_missing_data(cat: Catalog) -> None:
    vast = [o for o in cat.offerings.values() if o.cloud == "vast"]
    assert len(vast) == 56
    for o in vast:
        assert o.spot_price_usd_per_hour is None and "placeholder" in o.notes
        assert o.vcpus is None and o.cpu_mem_gb is None  # fixed request values in the source
    for o in (o for o in cat.offerings.values() if o.cloud == "mithril"):
        assert o.spot_price_usd_per_hour is None and "not below on-demand" in o.notes


def test_spot_only_rows(cat: Catalog, outcomes: dict[str, list[RowOutcome]]) -> None:
    # primeintellect lists spot offers as separate `...__SPOT` rows with an empty Price: folded into the twin
    twin = cat.offerings["primeintellect:FI:datacrunch__2xA100_80GB__44__240"]
    assert twin.price_usd_per_hour == 2.23 and twin.spot_price_usd_per_hour == 1.05
    assert not any(k.endswith("__SPOT") for k in cat.offerings)
    folded = [o for o in outcomes["primeintellect"] if o.status == "folded"]
    assert any(o.instance_type.endswith("__SPOT") and o.offering == twin.id for o in folded)
    # spheron's spot row folds into its on-demand twin
    assert cat.offerings["spheron:CANADA-1:n3-A100x1__CANADA-1"].spot_price_usd_per_hour == 1.1476
    # verda sells some sizes as spot only: preemptible offerings priced at the spot price
    b300 = cat.offerings["verda:FIN-03:2B300.60V"]
    assert b300.preemptible and b300.price_usd_per_hour == 4.893 and b300.spot_price_usd_per_hour is None
    assert sum(o.preemptible for o in cat.offerings.values()) == 5


def test_rows_without_region_are_uncertain(cat: Catalog) -> None:
    seeweb = [o for o in cat.offerings.values() if o.cloud == "seeweb" and o.region == "unspecified"]
    assert len(seeweb) == 15 and all(o.uncertain and o.notes.startswith("UNCERTAIN") for o in seeweb)


@pytest.mark.parametrize(
    ("oid", "gpu", "count"),
    [
        ("shadeform:kansascity-usa-1:massedcompute_A6000x8", "rtx-a6000", 8),  # GpuInfo in GB
        ("primeintellect:US:lambdalabs__8xA100_80GB__240__1800", "a100-80gb", 8),  # GpuInfo = count x MiB
        ("vast:France, FR, EU:1x-H200-32-65536", "h200", 1),
        ("hyperstack:CANADA-1:n3-A100x1", "a100-80gb-pcie", 1),  # GpuInfo with JSON null
        ("cudo:us-carlsbad-1:intel-ice-lake-a800-pci_1x2v4gb", "a800-80gb-pcie", 1),
        ("cudo:ca-montreal-3:sapphire-rapids-h100_1x2v4gb", "h100-sxm", 1),
        ("lambda:us-east-1:gpu_1x_a100", "a100-40gb-pcie", 1),
        ("lambda:us-east-1:gpu_1x_rtx6000", "quadro-rtx-6000", 1),
        ("daytona:earth:1x-MI355X", "mi355x", 1),
        ("spheron:Finland 3:1H100.80S.32V_FIN-03_500", "h100-sxm", 1),
    ],
)
def test_gpu_spellings_and_memory_units(cat: Catalog, oid: str, gpu: str, count: int) -> None:
    o = cat.offerings[oid]
    assert (o.gpu, o.gpus_per_instance) == (gpu, count)


def test_resellers_name_their_upstream(cat: Catalog) -> None:
    assert cat.offerings["shadeform:kansascity-usa-1:massedcompute_A6000x8"].upstream == "massedcompute"
    assert cat.offerings["primeintellect:US:lambdalabs__8xA100_80GB__240__1800"].upstream == "lambda"
    assert cat.offerings["spheron:Finland 3:1H100.80S.32V_FIN-03_500"].upstream == "verda"
    assert cat.offerings["lambda:us-east-1:gpu_1x_a100"].upstream == ""


def test_lambda_covers_every_region(cat: Catalog) -> None:
    regions = {o.region for o in cat.offerings.values() if o.cloud == "lambda"}
    assert len(regions) == 17
    assert cat.offerings["lambda:us-east-1:gpu_8x_h100_sxm5"].source.startswith(
        "skypilot-org/skypilot-catalog@0f4070387edc catalogs/v8/lambda/vms.csv")


@pytest.mark.parametrize(
    ("name", "memory_gib", "gpu"),
    [
        ("H100_NVL", None, "h100-nvl"),
        ("H100-80G-PCIe-NVLink", 80, "h100-pcie"),  # an NVLink bridge is not an NVL card
        ("H100", 93.6, "h100-nvl"),
        ("A100", 80, "a100-80gb"),
        ("A100", 40, "a100-40gb"),
        ("V100_32G_PCIE", None, "v100-32gb-pcie"),
        ("RTX PRO 6000 96GB", None, "rtx-pro-6000"),
        ("RTX6000Ada", 48, "rtx-6000-ada"),
        ("RTX6000", 24, "quadro-rtx-6000"),
        ("L40S_PCIE_BAREMETAL", 48, "l40s"),
        ("L4_PCIE", 24, "l4"),
        ("MI300X", 192, "mi300x"),  # not in the snapshot: Azure's ND MI300X v5 file (a refresh) lists it
        ("MI325X", 256, "mi325x"),
        ("RTX3060", 12, None),
    ],
)
def test_accelerator_names(name: str, memory_gib: float | None, gpu: str | None) -> None:
    assert gpu_for("anycloud", "x", name, "", memory_gib) == gpu
    assert normalise_accelerator(name).isalnum()


def test_gpu_info_parser() -> None:
    assert gpu_info_fields("{'Gpus': [{'Name': 'A100', 'Manufacturer': null, 'MemoryInfo': {'SizeInMiB': 81920}}]}") \
        == ("A100", 81920.0)
    json_info = '{"Gpus":[{"Name":"H100","Count":8,"MemoryInfo":{"SizeInMiB":655360}}]}'
    assert gpu_info_fields(json_info) == ("H100", 655360.0)
    assert gpu_info_fields("{'Gpus': [{'Name': 'X', 'MemoryInfo': {'SizeInMiB': 0}}]}") == ("X", None)
    assert parse_gpu_info("__import__('os')") is None and parse_gpu_info("") is None


def test_snapshot_files_are_the_source_bytes() -> None:
    # The snapshot is carried verbatim: the manifest's byte counts match the files.
    with (SNAPSHOT / "manifest.csv").open(encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            assert (SNAPSHOT / rec["path"]).stat().st_size == int(rec["bytes_written"]), rec["cloud"]


def test_no_machine_paths_in_snapshot_docs() -> None:
    for path in (SNAPSHOT / "README.md", SNAPSHOT / "snapshot.yaml"):
        text = Path(path).read_text(encoding="utf-8")
        assert "/work/" not in text and "shared/data" not in text
