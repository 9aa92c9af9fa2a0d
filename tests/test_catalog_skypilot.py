"""Importing SkyPilot catalog vms.csv files, on real rows (tests/data/catalog/skypilot, see README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.loader import load_catalog
from catalog.skypilot import gpu_for, import_skypilot_csv, import_skypilot_csv_report
from catalog.types import Offering
from planner.errors import InputError
from tests.conftest import ROOT

SKY = ROOT / "tests" / "data" / "catalog" / "skypilot"
FILES = {
    "aws": "aws_vms.csv",
    "gcp": "gcp_vms.csv",
    "azure": "azure_vms_v6.csv",
    "lambda": "lambda_vms.csv",
    "runpod": "runpod_vms.csv",
}
HEADER = ",".join(
    [
        "InstanceType",
        "AcceleratorName",
        "AcceleratorCount",
        "vCPUs",
        "MemoryGiB",
        "GpuInfo",
        "Price",
        "SpotPrice",
        "Region",
        "AvailabilityZone",
    ]
)


def imported(cloud: str) -> dict[str, Offering]:
    return {o.id: o for o in import_skypilot_csv(SKY / FILES[cloud], cloud, as_of="2025")}


@pytest.mark.parametrize("cloud", sorted(FILES))
def test_import_agrees_with_the_shipped_offerings(cloud: str) -> None:
    shipped = load_catalog().offerings
    offs = imported(cloud)
    assert offs
    for oid, o in offs.items():
        assert oid in shipped, oid
        s = shipped[oid]
        assert (o.gpu, o.gpus_per_instance, o.vcpus, o.cpu_mem_gb) == (
            s.gpu,
            s.gpus_per_instance,
            s.vcpus,
            s.cpu_mem_gb,
        ), oid
        assert o.price_usd_per_hour == pytest.approx(s.price_usd_per_hour, abs=1e-5), oid
        assert o.spot_price_usd_per_hour == pytest.approx(s.spot_price_usd_per_hour, abs=1e-5), oid
        assert o.as_of == "2025" and FILES[cloud] in o.source


def test_gcp_composes_attachment_and_vm_part() -> None:
    report = import_skypilot_csv_report(SKY / "gcp_vms.csv", "gcp")
    offs = {o.id: o for o in report.offerings}
    a2 = offs["gcp:us-central1:a2-highgpu-1g"]
    assert a2.price_usd_per_hour == pytest.approx(2.93391 + 0.73948)
    assert a2.spot_price_usd_per_hour == pytest.approx(1.4341 + 0.36975)
    assert "attachment 2.93391 + VM part 0.73948" in a2.notes
    assert offs["gcp:us-central1:a3-edgegpu-8g"].price_usd_per_hour == pytest.approx(33.60609 + 9.46006)
    skipped = dict(report.skipped)
    # the snapshot has no A100-80GB attachment row and no single-H100 attachment row
    assert "no GPU attachment price for A100-80GB x1" in skipped["a2-ultragpu-1g (us-central1)"]
    assert "no GPU attachment price for H100 x1" in skipped["a3-highgpu-1g (us-central1)"]
    assert len(offs) == 2  # attachment-only rows (T4, P4, L4, ...) are not offerings by themselves


def test_azure_fixes_and_variants() -> None:
    offs = imported("azure")
    nd = offs["azure:eastus:Standard_ND96isr_H100_v5"]
    assert nd.gpus_per_instance == 8 and nd.uncertain and "12" in nd.notes
    assert nd.spot_price_usd_per_hour is None  # spot equal to on-demand in the source
    assert offs["azure:eastus:Standard_NC40ads_H100_v5"].gpu == "h100-nvl"
    assert offs["azure:eastus:Standard_NC24ads_A100_v4"].gpu == "a100-80gb-pcie"
    assert offs["azure:eastus:Standard_NC6s_v3"].gpu == "v100-pcie"
    assert offs["azure:eastus:Standard_ND96asr_v4"].gpu == "a100-40gb"


def test_lambda_and_runpod_variants() -> None:
    lam = imported("lambda")
    assert lam["lambda:us-east-1:gpu_1x_a100"].gpu == "a100-40gb-pcie"
    assert lam["lambda:us-east-1:gpu_1x_a100_sxm4"].gpu == "a100-40gb"
    assert lam["lambda:us-east-1:gpu_8x_a100"].gpu == "a100-40gb"
    assert lam["lambda:us-east-1:gpu_1x_h100_pcie"].gpu == "h100-pcie"
    assert lam["lambda:us-east-1:gpu_2x_a6000"].gpu == "rtx-a6000"
    run = imported("runpod")
    assert all(o.gpu == "a100-80gb-pcie" and o.spot_price_usd_per_hour is None for o in run.values())


def test_aws_zones_fold_to_the_lowest_regular_zone_price(tmp_path: Path) -> None:
    # Synthetic layout test (not data): one type in two regular zones and one Local Zone.
    path = tmp_path / "vms.csv"
    path.write_text(
        HEADER + "\n"
        "p5.48xlarge,H100,8,192,2048,,55.04,19.0,us-east-1,use1-az1\n"
        "p5.48xlarge,H100,8,192,2048,,55.04,17.6289,us-east-1,use1-az6\n"
        "p5.48xlarge,H100,8,192,2048,,55.04,10.2397,us-east-1,us-east-1-atl-2a\n"
        "m5.large,,,2,8,,0.096,0.03,us-east-1,use1-az1\n"
        "gr6.4xlarge,L4,0.125,16,128,,1.0,0.5,us-east-1,use1-az1\n"
        "x1.gpu,Gaudi,8,96,768,,30.0,,us-east-1,use1-az1\n",
        encoding="utf-8",
    )
    report = import_skypilot_csv_report(path, "AWS")
    (p5,) = report.offerings
    assert p5.id == "aws:us-east-1:p5.48xlarge" and p5.spot_price_usd_per_hour == 17.6289
    assert dict(report.skipped) == {
        "gr6.4xlarge (us-east-1)": "fractional GPU count 0.125",
        "x1.gpu (us-east-1)": "no GPU spec in the catalog for accelerator 'Gaudi'",
    }


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("InstanceType,Price\nx,1\n", "missing column(s) AcceleratorName, AcceleratorCount, Region"),
        (HEADER + "\np5.48xlarge,H100,8,192,2048,,cheap,,us-east-1,use1-az6\n", "line 2: column Price"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "vms.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        import_skypilot_csv(path, "aws")
    assert needle in err.value.message and err.value.where == str(path)
    with pytest.raises(InputError, match="not found"):
        import_skypilot_csv(tmp_path / "none.csv", "aws")


def test_gpu_name_mapping() -> None:
    assert gpu_for("aws", "p5.48xlarge", "H100") == "h100-sxm"
    assert gpu_for("gcp", "a3-megagpu-8g", "H100-MEGA") == "h100-sxm"
    assert gpu_for("runpod", "1x_H100_SECURE", "H100", "{'Name': 'H100 PCIe'}") == "h100-pcie"
    assert gpu_for("gcp", "", "P4") is None
