"""`gpuplan import melange` and `catalog gpus|offerings|models|commitments|refresh` (the command groups).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from common import files
from planner import bounds
from planner.cli.app import (
    CatalogOverlay,
    Fmt,
    FormatOpt,
    OutputOpt,
    ReportFmt,
    ReportFormatOpt,
    _check_output,
    _emit,
    _range,
    _state,
    catalog_app,
    import_app,
)


@import_app.command("melange")
def import_melange(
    input_json: Annotated[Path, typer.Argument(metavar="INPUT.json", help="A Mélange input JSON.")],
    output: OutputOpt = None,
) -> None:
    """Turn a Mélange input into a native gpuplan spec (YAML)."""
    from planner.commands.import_melange import execute

    _state.update(command="import melange")
    _check_output(output, input_json)
    _emit(execute(input_json), "yaml", output)


def _catalog_cmd(kind: str, fmt: Fmt, filters: dict[str, Any], overlays: list[Path] | None) -> None:
    from planner.commands.catalog import execute

    _state.update(command=f"catalog {kind}", json=fmt.value == "json")
    _emit(execute(kind, filters, overlays=tuple(overlays or ())), fmt.value, None)




@catalog_app.command("gpus")
def catalog_gpus(
    vendor: Annotated[str | None, typer.Option("--vendor")] = None,
    min_memory_gb: Annotated[
        float | None, typer.Option("--min-memory-gb", callback=_range("--min-memory-gb", ge=0, le=bounds.MAX_MEMORY_GB))
    ] = None,
    family: Annotated[str | None, typer.Option("--family", help="e.g. hopper, ampere, cdna3")] = None,
    fmt: FormatOpt = Fmt.table,
    catalog: CatalogOverlay = None,
) -> None:
    """List GPUs."""
    _catalog_cmd("gpus", fmt, {"vendor": vendor, "min_memory_gb": min_memory_gb, "family": family}, catalog)


@catalog_app.command("offerings")
def catalog_offerings(
    gpu: Annotated[str | None, typer.Option("--gpu")] = None,
    cloud: Annotated[str | None, typer.Option("--cloud")] = None,
    region: Annotated[str | None, typer.Option("--region")] = None,
    max_price: Annotated[
        float | None,
        typer.Option(
            "--max-price",
            callback=_range("--max-price", ge=0, le=bounds.MAX_PRICE_USD_PER_HOUR),
            help="$/h per instance",
        ),
    ] = None,
    min_memory_gb: Annotated[
        float | None,
        typer.Option(
            "--min-memory-gb",
            callback=_range("--min-memory-gb", ge=0, le=bounds.MAX_MEMORY_GB),
            help="GPU memory per GPU",
        ),
    ] = None,
    fmt: FormatOpt = Fmt.table,
    catalog: CatalogOverlay = None,
) -> None:
    """List offerings (instances and prices)."""
    filters = {"gpu": gpu, "cloud": cloud, "region": region, "max_price": max_price, "min_memory_gb": min_memory_gb}
    _catalog_cmd("offerings", fmt, filters, catalog)


@catalog_app.command("models")
def catalog_models(
    family: Annotated[str | None, typer.Option("--family", help="e.g. llama, qwen, mixtral")] = None,
    fmt: FormatOpt = Fmt.table,
    catalog: CatalogOverlay = None,
) -> None:
    """List model architectures with derived parameter counts."""
    _catalog_cmd("models", fmt, {"family": family}, catalog)


@catalog_app.command("commitments")
def catalog_commitments(
    cloud: Annotated[str | None, typer.Option("--cloud")] = None,
    gpu: Annotated[str | None, typer.Option("--gpu")] = None,
    term: Annotated[str | None, typer.Option("--term", help="1y or 3y")] = None,
    min_confidence: Annotated[str | None, typer.Option("--min-confidence", help="high, medium or low")] = None,
    fmt: FormatOpt = Fmt.table,
    catalog: CatalogOverlay = None,
) -> None:
    """List committed-capacity prices (1-year/3-year reservations, CUDs, capacity blocks)."""
    filters = {"cloud": cloud, "gpu": gpu, "term": term, "min_confidence": min_confidence}
    _catalog_cmd("commitments", fmt, filters, catalog)


@catalog_app.command("refresh")
def catalog_refresh(
    skypilot: Annotated[
        Path, typer.Option("--skypilot", metavar="DIR", help="A SkyPilot catalog copy (v8: <cloud>/vms.csv).")
    ],
    cloud: Annotated[
        list[str] | None, typer.Option("--cloud", metavar="<str>", help="Only this cloud (repeatable).")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Date of the prices (default: each file's modification date).")
    ] = None,
    write: Annotated[
        Path | None, typer.Option("--write", metavar="FILE", help="Save the offerings as a catalog overlay.")
    ] = None,
    fmt: ReportFormatOpt = ReportFmt.table,
    catalog: CatalogOverlay = None,
) -> None:
    """Rebuild offerings from a SkyPilot catalog copy and show what changed."""
    from planner.commands.catalog_refresh import execute

    _state.update(command="catalog refresh", json=fmt.value == "json")
    for path in catalog or ():
        files.note_input(path)
    if write is not None:
        files.check_output_path(write, "--write")
    outcome = execute(skypilot, tuple(cloud or ()), as_of, write, overlays=tuple(catalog or ()))
    _emit(outcome, fmt.value, None)
