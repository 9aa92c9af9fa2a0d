"""Every plan flags the prices it should (uncertain, suspect, overridden), says how old they are, and
names the same-price offerings it left out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import gpuplan

EPOCH_2026_12_02 = "1796169600"  # 2026-12-02T00:00:00Z


def _spec(tmp_path: Path, offerings: dict[str, Any], model: str = "llama-3.1-8b") -> Path:
    spec = {
        "name": "trust",
        "models": [{
            "model": model,
            "workload": {"rate_rps": 2, "histogram": [{"input_len": 500, "output_len": 200, "share": 1.0}]},
            "slo": {"ttft_ms": 2000, "tpot_ms": 80},
        }],
        "offerings": offerings,
        "search": {"tp": [1, 8], "weights": ["bf16"]},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _plan(path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH_2026_12_02)
    run = gpuplan("plan", path, "--format", fmt)
    assert run.code == 0, run
    return run.out


def test_suspect_spot_price_is_flagged_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Azure's A100 spot price is 89% below on-demand in the snapshot: used, but flagged.
    spec = _spec(tmp_path, {"clouds": ["azure"], "gpus": ["a100-40gb"], "spot": True})
    data = json.loads(_plan(spec, "json", monkeypatch))["data"]
    (alloc,) = data["allocations"]
    assert alloc["spot"] and alloc["price_flags"] == ["suspect"]
    assert "89% below on-demand" in alloc["price_notes"][0]
    assert alloc["price_as_of"] == "2025" and alloc["price_age_days"] == 700
    assert "flagged prices used: azure:eastus:Standard_ND96asr_v4#spot !" in data["assumptions"]["price_trust"]
    assert data["assumptions"]["price_age"] == "at most 700 days old on 2026-12-02"
    table = _plan(spec, "table", monkeypatch)
    assert "$2.9917 !" in table and "Price marks: ! looks wrong, verify" in table
    md = _plan(spec, "md", monkeypatch)
    assert "$2.9917 `!`" in md and "Price marks: `!` looks wrong, verify" in md


def test_uncertain_prices_are_left_out_unless_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every GCP H100 price in the catalog is uncertain (the us-central1 attachment price looks anomalous).
    flt: dict[str, Any] = {"clouds": ["gcp", "aws"], "gpus": ["h100-sxm"]}
    default = json.loads(_plan(_spec(tmp_path, flt), "json", monkeypatch))["data"]
    assert {a["cloud"] for a in default["allocations"]} == {"aws"}
    assert all(a["price_flags"] == [] for a in default["allocations"])
    assert "include_uncertain: false" in default["assumptions"]["price_trust"]
    opted = json.loads(_plan(_spec(tmp_path, {**flt, "include_uncertain": True}), "json", monkeypatch))["data"]
    (alloc,) = opted["allocations"]
    assert alloc["offering"] == "gcp:us-central1:a3-highgpu-1g" and alloc["price_flags"] == ["uncertain"]
    assert "anomalous" in alloc["price_notes"][0]
    assert "gcp:us-central1:a3-highgpu-1g ?" in opted["assumptions"]["price_trust"]


def test_overridden_prices_are_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flt = {"clouds": ["aws"], "gpus": ["l4"], "price_overrides": {"aws:us-east-1:g6.2xlarge": 0.5}}
    data = json.loads(_plan(_spec(tmp_path, flt), "json", monkeypatch))["data"]
    (alloc,) = data["allocations"]
    assert alloc["offering"] == "aws:us-east-1:g6.2xlarge" and alloc["price_usd_per_hour"] == 0.5
    assert alloc["price_flags"] == ["overridden"]
    overlay = tmp_path / "negotiated.yaml"
    overlay.write_text("schema_version: 1\nofferings:\n  - {id: 'aws:us-east-1:g6.2xlarge', price_usd_per_hour: 0.5}\n")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH_2026_12_02)
    spec = _spec(tmp_path, {"clouds": ["aws"], "gpus": ["l4"]})
    run = gpuplan("plan", spec, "--catalog", overlay, "--format", "json")
    (alloc,) = json.loads(run.out)["data"]["allocations"]
    assert alloc["price_flags"] == ["overridden"]


def test_same_price_regions_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = json.loads(_plan(_spec(tmp_path, {"clouds": ["lambda"], "gpus": ["a10"]}), "json", monkeypatch))["data"]
    (alloc,) = data["allocations"]
    assert alloc["offering"] == "lambda:asia-northeast-1:gpu_1x_a10" and alloc["price_flags"] == []
    assert len(alloc["equivalent_offerings"]) == 16
    assert "lambda:us-east-1:gpu_1x_a10" in alloc["equivalent_offerings"]
    assert "16 of 17 offerings passing the filters left out" in data["assumptions"]["offerings_dropped"]
