"""`gpuplan catalog refresh --skypilot DIR` on a modified copy of the catalog, through the real entry point."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
import yaml

from catalog.loader import DATA_DIR, load_catalog
from catalog.refresh import diff, refresh
from tests.conftest import ROOT
from tests.support import gpuplan

SNAPSHOT = DATA_DIR / "skypilot" / "v8"
FIXTURES = ROOT / "tests" / "data" / "catalog" / "skypilot"


def _rewrite(path: Path, edit: object) -> None:
    """Apply `edit(rows) -> rows` to a CSV, keeping its header."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    rows = edit(rows)  # type: ignore[operator]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


@pytest.fixture
def modified(tmp_path: Path) -> Path:
    """A v8 catalog folder: three shipped clouds (edited), AWS rows and GCP with a separate accelerator file."""
    root = tmp_path / "catalogs" / "v8"
    for cloud in ("lambda", "daytona", "vast"):
        shutil.copytree(SNAPSHOT / cloud, root / cloud)

    def cheaper_h100(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        for r in rows:
            if r["InstanceType"] == "gpu_1x_h100_pcie" and r["Region"] == "us-east-1":
                r["Price"] = "2.99"
        return rows

    def drop_b300_add_unknown(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        rows = [r for r in rows if r["InstanceType"] != "1x-B300"]
        new = dict(rows[0])
        new.update(InstanceType="1x-TPU9", AcceleratorName="TPU9", GpuInfo="", Price="3.0", SpotPrice="")
        return [*rows, new]

    _rewrite(root / "lambda" / "vms.csv", cheaper_h100)
    _rewrite(root / "daytona" / "vms.csv", drop_b300_add_unknown)
    (root / "aws").mkdir()
    shutil.copy(FIXTURES / "aws_vms.csv", root / "aws" / "vms.csv")
    (root / "gcp").mkdir()
    lines = (FIXTURES / "gcp_vms.csv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    (root / "gcp" / "vms.csv").write_text("\n".join([header, *(r for r in rows if not r.startswith(","))]) + "\n")
    (root / "gcp" / "accelerators.csv").write_text("\n".join([header, *(r for r in rows if r.startswith(","))]) + "\n")
    return tmp_path / "catalogs"


def test_refresh_prints_a_readable_diff(modified: Path) -> None:
    run = gpuplan("catalog", "refresh", "--skypilot", modified, "--as-of", "2026-11")
    assert run.code == 0, run
    out = run.out
    assert "~ lambda:us-east-1:gpu_1x_h100_pcie  price_usd_per_hour 3.29 -> 2.99 (-9.1%)" in out
    assert "- daytona:earth:1x-B300  gone: b300 x1" in out
    assert "GPUs not in the catalog" in out and "TPU9 (1 row)" in out
    assert "Nothing written" in out and run.err == ""


def test_refresh_json_and_overlay(modified: Path, tmp_path: Path) -> None:
    target = tmp_path / "refreshed.yaml"
    run = gpuplan("catalog", "refresh", "--skypilot", modified, "--as-of", "2026-11", "--write", target,
                  "--format", "json")
    assert run.code == 0, run
    data = json.loads(run.out)["data"]
    summary = {s["cloud"]: s for s in data["summary"]}
    assert set(summary) == {"aws", "daytona", "gcp", "lambda", "vast"}
    assert summary["lambda"]["changed"] == 1 and summary["lambda"]["rows"] == 374
    assert summary["daytona"]["removed"] == 1 and summary["daytona"]["skipped_rows"] == 1
    assert summary["vast"]["changed"] == summary["vast"]["added"] == summary["vast"]["removed"] == 0
    assert data["unknown_gpus"]["TPU9"] == 1 and "RTX3060" in data["unknown_gpus"]
    changes = {c["id"]: c for c in data["changes"]}
    assert changes["lambda:us-east-1:gpu_1x_h100_pcie"]["fields"] == {"price_usd_per_hour": [3.29, 2.99]}
    assert data["written"] == str(target) and data["offerings_written"] > 400

    overlay = yaml.safe_load(target.read_text(encoding="utf-8"))
    assert overlay["replace_clouds"] == ["aws", "daytona", "gcp", "lambda", "vast"]
    gcp = {(o["region"], o["instance_type"]): o for o in overlay["offerings"] if o["cloud"] == "gcp"}
    # the separate accelerator price file is composed with the VM part
    assert gcp[("us-central1", "a2-highgpu-1g")]["price_usd_per_hour"] == pytest.approx(2.93391 + 0.73948)
    assert all(o["as_of"] == "2026-11" for o in overlay["offerings"])

    listed = gpuplan("catalog", "offerings", "--catalog", target, "--cloud", "lambda", "--region", "us-east-1",
                     "--gpu", "h100-pcie", "--format", "json")
    (row,) = json.loads(listed.out)["data"]["rows"]
    assert row["price_usd_per_hour"] == 2.99
    cat = load_catalog(overlays=(target,))
    assert "daytona:earth:1x-B300" not in cat.offerings
    assert "daytona:earth:1x-B300" in load_catalog().offerings
    assert {o.cloud for o in cat.offerings.values()} >= {"azure", "runpod", "nebius"}  # untouched clouds stay


def test_refresh_of_the_shipped_snapshot_changes_nothing() -> None:
    cat = load_catalog()
    result = refresh(cat, DATA_DIR / "skypilot", as_of="2025")
    assert result.changes == ()
    assert sum(s.rows for s in result.summaries) == 1204


def test_diff_fields() -> None:
    cat = load_catalog()
    a = cat.offerings["lambda:us-east-1:gpu_1x_a10"]
    b = a.model_copy(update={"spot_price_usd_per_hour": 0.5, "notes": "ignored"})
    (change,) = diff({a.id: a}, {a.id: b})
    assert change.kind == "changed" and change.fields == (("spot_price_usd_per_hour", None, 0.5),)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--skypilot", "no-such-folder"), "SkyPilot catalog folder not found"),
        (("--skypilot", "tests"), "no <cloud>/vms.csv under this folder"),
    ],
)
def test_bad_folders(args: tuple[str, ...], needle: str) -> None:
    run = gpuplan("catalog", "refresh", *args)
    assert run.code == 2 and needle in run.err and run.out == "", run


HEADER = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,GpuInfo,SpotPrice"


def _one_cloud(tmp_path: Path, *rows: str) -> Path:
    (tmp_path / "lambda").mkdir()
    (tmp_path / "lambda" / "vms.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("cell", "shown"),
    [("1e308", "'1e308'"), ("inf", "'inf'"), ("-2", "'-2'"), ("GPUPLAN-CANARY-price", "a non-numeric value")],
)
def test_a_price_no_cloud_charges_is_refused_by_line_and_column(tmp_path: Path, cell: str, shown: str) -> None:
    folder = _one_cloud(tmp_path, f"gpu_1x_a10,A10,1,30,200,{cell},us-east-1,,")
    run = gpuplan("catalog", "refresh", "--skypilot", folder)
    assert run.code == 2 and "internal error" not in run.err and run.out == "", run
    assert "line 2: column Price" in run.err and shown in run.err and "CANARY" not in run.err, run


@pytest.mark.parametrize(
    "gpu_info",
    [
        "{[1]: 2}",  # a list as a dict key
        "{'Gpus': [{'Name': 'A10', 'MemoryInfo': {'SizeInMiB': 1" + "0" * 400 + "}}]}",
        "{'Gpus': [{'Name': 'A10', 'MemoryInfo': {'SizeInMiB': 1e999}}]}",
        "[" * 5000,
    ],
)
def test_a_gpu_info_no_gpu_has_is_read_as_absent(tmp_path: Path, gpu_info: str) -> None:
    folder = _one_cloud(tmp_path, f'gpu_1x_a10,A10,1,30,200,0.75,us-east-1,"{gpu_info}",')
    run = gpuplan("catalog", "refresh", "--skypilot", folder, "-f", "json")
    assert run.code == 0, run
    assert json.loads(run.out)["status"] == "ok"


def test_write_never_replaces_a_file_the_refresh_read(tmp_path: Path) -> None:
    folder = _one_cloud(tmp_path, "gpu_1x_a10,A10,1,30,200,0.75,us-east-1,,")
    vms = folder / "lambda" / "vms.csv"
    before = vms.read_bytes()
    run = gpuplan("catalog", "refresh", "--skypilot", folder, "--write", vms)
    assert run.code == 2 and "--write" in run.err and "reads" in run.err, run
    assert vms.read_bytes() == before
