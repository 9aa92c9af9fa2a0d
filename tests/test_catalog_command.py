"""`gpuplan catalog gpus|offerings|models`: rows, filters, errors and output formats."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from planner.commands.catalog import execute
from planner.errors import InputError
from tests.support import gpuplan

NO_FILTERS: dict[str, object] = {}


def rows(kind: str, **filters: object) -> list[dict[str, object]]:
    data = execute(kind, dict(filters)).data_dict()
    assert data["count"] == len(data["rows"])
    result: list[dict[str, object]] = data["rows"]
    return result


def test_models_rows_have_derived_counts() -> None:
    by_id = {r["id"]: r for r in rows("models")}
    assert by_id["mixtral-8x7b"]["total_params_b"] == pytest.approx(46.7, rel=0.01)
    assert by_id["mixtral-8x7b"]["active_params_b"] == pytest.approx(12.9, rel=0.01)
    assert by_id["deepseek-v3"]["kv_elements_per_token"] == 61 * 576
    assert {r["family"] for r in rows("models", family="Qwen")} == {"qwen"}
    assert [r["id"] for r in rows("models", family="gpt-j")] == ["gpt-j-6b"]


def test_gpu_and_offering_rows_carry_source_and_as_of() -> None:
    for kind in ("gpus", "offerings"):
        for r in rows(kind):
            assert r["source"] and r["as_of"], r["id"]
    amd = rows("gpus", vendor="AMD", min_memory_gb=200)
    assert [r["id"] for r in amd] == ["mi325x", "mi355x"]
    assert {r["id"] for r in rows("gpus", family="blackwell")} == {"b200", "b300", "rtx-5090", "rtx-pro-6000"}


def test_offering_filters() -> None:
    h100 = rows("offerings", gpu="h100-sxm", cloud="aws", region="us-east-1", max_price=10)
    assert [r["id"] for r in h100] == ["aws:us-east-1:p5.4xlarge"]
    assert h100[0]["price_usd_per_gpu_hour"] == 6.88 and h100[0]["gpu_memory_gb"] == 80
    big = rows("offerings", min_memory_gb=141)
    assert big and all(float(str(r["gpu_memory_gb"])) >= 141 for r in big)
    assert {r["gpu"] for r in rows("offerings", vendor="google")} == {"tpu-v6e"}
    assert rows("offerings", gpu="t4", max_price=0.1) == []


@pytest.mark.parametrize(
    ("kind", "filters", "flag", "needle"),
    [
        ("offerings", {"gpu": "h1000"}, "--gpu", "did you mean"),
        ("offerings", {"gpu": "h100"}, "--gpu", "'h100-nvl' or 'h100-pcie' or 'h100-sxm'"),
        ("offerings", {"cloud": "awz"}, "--cloud", "did you mean 'aws'"),
        ("offerings", {"region": "us-est-1"}, "--region", "'us-east-1'"),
        ("gpus", {"vendor": "nvdia"}, "--vendor", "did you mean 'nvidia'"),
        ("gpus", {"family": "hoper"}, "--family", "did you mean 'hopper'"),
        ("models", {"family": "lama"}, "--family", "did you mean 'llama'"),
        ("offerings", {"max_price": -1.0}, "--max-price", ">= 0"),
        ("models", {"cloud": "aws"}, "--cloud", "does not apply"),
    ],
)
def test_bad_filter_values(kind: str, filters: dict[str, object], flag: str, needle: str) -> None:
    with pytest.raises(InputError) as err:
        execute(kind, filters)
    assert err.value.where == flag and needle in err.value.message


def test_unknown_kind() -> None:
    with pytest.raises(InputError, match="valid: gpus, offerings, models"):
        execute("engines", {})


def test_renderers_and_overlay(tmp_path: Path) -> None:
    overlay = tmp_path / "o.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "schema_version": 1,
                "offerings": [
                    {
                        "cloud": "onprem",
                        "region": "dc1",
                        "instance_type": "dgx-h100",
                        "gpu": "h100-sxm",
                        "gpus_per_instance": 8,
                        "price_usd_per_hour": 18.5,
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    out = execute("offerings", {"cloud": "onprem", "gpu": None}, overlays=(overlay,))
    assert out.data_dict()["count"] == 1 and ".u" in out.data_dict()["catalog_version"]
    console = Console(record=True, width=120, file=io.StringIO())
    console.print(out.renderers["table"]())
    text = console.export_text()
    assert "onprem:dc1:dgx-h100" in text and "18.50" in text and "2.31" in text
    table = list(csv.DictReader(io.StringIO(out.renderers["csv"]())))
    assert table[0]["id"] == "onprem:dc1:dgx-h100" and table[0]["source"].startswith("user catalog overlay")
    md = out.renderers["md"]()
    assert "| onprem:dc1:dgx-h100 | h100-sxm | 8 | 18.50 | 2.31 | - | - |" in md
    gpus_csv = list(csv.DictReader(io.StringIO(execute("gpus", {"gpu": "h200"}).renderers["csv"]())))
    assert json.loads(gpus_csv[0]["tflops"])["fp8"] == 1978.9


def test_cli_json_and_error_exit_codes() -> None:
    ok = gpuplan("catalog", "models", "--family", "llama", "-f", "json", process=True)
    assert ok.code == 0, ok.err
    env = json.loads(ok.out)
    assert env["status"] == "ok" and env["command"] == "catalog models"
    assert all("total_params_b" in r and "active_params_b" in r for r in env["data"]["rows"])
    bad = gpuplan("catalog", "offerings", "--gpu", "h1000", process=True)
    assert bad.code == 2
    assert "--gpu" in bad.err and "did you mean" in bad.err and "Traceback" not in bad.err
