"""The compiled catalog cache: used when its key matches, ignored when absent, damaged or off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog import cache
from catalog.loader import DATA_DIR, shipped_catalog, shipped_files


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "cache"
    monkeypatch.setenv("GPUPLAN_CACHE_DIR", str(folder))
    shipped_catalog.cache_clear()
    yield folder
    shipped_catalog.cache_clear()


def test_first_load_stores_and_second_load_reads(cache_dir: Path) -> None:
    built = shipped_catalog()
    (entry,) = cache_dir.glob("catalog-*.pickle")
    shipped_catalog.cache_clear()
    loaded = shipped_catalog()
    assert loaded == built and loaded is not built
    assert list(cache_dir.glob("catalog-*.pickle")) == [entry]


def test_damaged_or_foreign_entries_are_rebuilt(cache_dir: Path) -> None:
    built = shipped_catalog()
    (entry,) = cache_dir.glob("catalog-*.pickle")
    for junk in (b"not a pickle", b""):
        entry.write_bytes(junk)
        shipped_catalog.cache_clear()
        assert shipped_catalog() == built
    assert entry.read_bytes()[:1] == b"\x80"  # rewritten as a pickle


def test_key_depends_on_data_and_code() -> None:
    assert cache.key("a" * 64) != cache.key("b" * 64)
    assert cache.key("a" * 64) == cache.key("a" * 64)


def test_off_and_unwritable_folders_still_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = shipped_catalog()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for value in ("off", str(blocker / "sub")):  # a folder that cannot be created
        monkeypatch.setenv("GPUPLAN_CACHE_DIR", value)
        shipped_catalog.cache_clear()
        assert shipped_catalog() == expected
    assert blocker.read_text() == "x"
    shipped_catalog.cache_clear()


def test_nothing_is_written_into_the_package(cache_dir: Path) -> None:
    before = sorted(p.relative_to(DATA_DIR) for p in DATA_DIR.rglob("*"))
    shipped_catalog()
    assert sorted(p.relative_to(DATA_DIR) for p in DATA_DIR.rglob("*")) == before
    assert all(p.is_file() for p in shipped_files())
