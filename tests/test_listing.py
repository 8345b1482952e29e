"""The listing a start keeps for the next one (``listing``): read back only while nothing it comes from changed, and
then the very listing the specs give; derived again after any change, and never kept where Python keeps no bytecode."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest

from ideogram_mcp import listing, prompts
from ideogram_mcp.server import _derived  # pyright: ignore[reportPrivateUsage]

SOURCES = [listing.PACKAGE, prompts.folder()]


def _dumped(shown: listing.Listing) -> tuple[list[dict[str, Any]], str]:
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in shown.tools], shown.instructions


class _Deriving:
    """A stand-in derivation that counts its runs."""

    def __init__(self, instructions: str = "Make images.") -> None:
        self.runs = 0
        self.instructions = instructions

    def __call__(self) -> listing.Listing:
        self.runs += 1
        tool = types.Tool(name="echo", input_schema={"type": "object"}, description=f"run {self.runs}")
        return listing.Listing((tool,), self.instructions)


@pytest.fixture
def writing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python may write bytecode (the suite runs with PYTHONDONTWRITEBYTECODE, which keeps no listing either)."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "package"
    (folder / "specs").mkdir(parents=True)
    (folder / "specs" / "model.toml").write_text("sizes = 69\n", encoding="utf-8")
    return folder


@pytest.mark.usefixtures("writing")
def test_the_kept_listing_is_the_one_the_specs_give(tmp_path: Path) -> None:
    kept = tmp_path / "listing.json"
    derived = _derived()
    assert listing.load(_derived, SOURCES, kept=kept) == derived  # derived, and kept
    assert kept.is_file()
    again = listing.load(_fails, SOURCES, kept=kept)  # read back, not derived
    assert _dumped(again) == _dumped(derived)
    assert [t.name for t in again.tools][:2] == ["generate_image", "remix_image"]


@pytest.mark.usefixtures("writing")
def test_a_listing_is_read_back_until_a_source_changes(tmp_path: Path, source: Path) -> None:
    kept, derive = tmp_path / "listing.json", _Deriving()
    first = listing.load(derive, [source], kept=kept)
    assert listing.load(derive, [source], kept=kept) == first
    assert derive.runs == 1
    # Another size: the file times' clock may not have moved since the file was written.
    (source / "specs" / "model.toml").write_text("sizes = 700\n", encoding="utf-8")
    assert listing.load(derive, [source], kept=kept).tools[0].description == "run 2"
    (source / "specs" / "new.py").write_text("", encoding="utf-8")
    listing.load(derive, [source], kept=kept)
    assert derive.runs == 3


@pytest.mark.parametrize(
    "change",
    [
        lambda path: path.write_text(path.read_text().replace('"key": "', '"key": "0'), encoding="utf-8"),
        lambda path: path.write_text("{not json", encoding="utf-8"),
        lambda path: path.write_text('{"key": 1}', encoding="utf-8"),
        lambda path: path.write_text("[]", encoding="utf-8"),
        lambda path: path.unlink(),
    ],
    ids=["another-key", "not-json", "incomplete", "not-a-listing", "gone"],
)
@pytest.mark.usefixtures("writing")
def test_a_kept_listing_that_does_not_fit_is_derived_again(
    tmp_path: Path, source: Path, change: Callable[[Path], object]
) -> None:
    kept, derive = tmp_path / "listing.json", _Deriving()
    listing.load(derive, [source], kept=kept)
    change(kept)
    assert listing.load(derive, [source], kept=kept).tools[0].description == "run 2"
    assert listing.load(derive, [source], kept=kept).tools[0].description == "run 2"  # kept again, whole


def test_where_python_keeps_no_bytecode_no_listing_is_kept(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    kept, derive = tmp_path / "listing.json", _Deriving()
    listing.load(derive, [source], kept=kept)
    listing.load(derive, [source], kept=kept)
    assert derive.runs == 2
    assert list(tmp_path.iterdir()) == [source]


@pytest.mark.usefixtures("writing")
def test_a_listing_that_cannot_be_kept_is_served_all_the_same(tmp_path: Path, source: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("", encoding="utf-8")
    derive = _Deriving()
    assert listing.load(derive, [source], kept=blocked / "listing.json").instructions == "Make images."
    assert listing.load(derive, [tmp_path / "missing"], kept=tmp_path / "listing.json").tools[0].name == "echo"
    assert derive.runs == 2
    assert sorted(os.listdir(tmp_path)) == ["a-file", "package"]


def test_the_fingerprint_covers_every_file_but_bytecode(source: Path) -> None:
    before = listing.fingerprint([source])
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\0")
    assert listing.fingerprint([source]) == before
    (source / "specs" / "model.toml").write_text("sizes = 7100\n", encoding="utf-8")
    assert listing.fingerprint([source]) != before


def _fails() -> listing.Listing:
    raise AssertionError("derived although a listing was kept")


@pytest.mark.usefixtures("writing")
def test_a_source_edited_to_the_same_size_is_derived_again(tmp_path: Path, source: Path) -> None:
    # An edit that keeps a file's size (a bound 69 -> 70 in a spec) must still derive the listing again: tools/list
    # had published the old bound while the server checked the new one.
    kept, derive, spec = tmp_path / "listing.json", _Deriving(), source / "specs" / "model.toml"
    listing.load(derive, [source], kept=kept)
    before = spec.stat().st_mtime_ns
    spec.write_text("sizes = 70\n", encoding="utf-8")  # as many bytes as "sizes = 69\n"
    os.utime(spec, ns=(before + 5_000_000_000, before + 5_000_000_000))
    assert listing.load(derive, [source], kept=kept).tools[0].description == "run 2"
