from __future__ import annotations

from pathlib import Path

import pytest

from crawler.params import ArgumentError, PinsParams


def test_missing_ids_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ArgumentError, match=r"ids_file '.*nope\.txt' does not exist"):
        PinsParams.parse(ids_file=str(tmp_path / "nope.txt"))


def test_empty_ids_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n# only a comment\n")
    with pytest.raises(ArgumentError, match="is empty: it has no pin ids"):
        PinsParams.parse(ids_file=str(empty))


def test_directory_is_not_an_ids_file(tmp_path: Path) -> None:
    with pytest.raises(ArgumentError, match="is a directory"):
        PinsParams.parse(ids_file=str(tmp_path))


def test_binary_ids_file(tmp_path: Path) -> None:
    binary = tmp_path / "ids.bin"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ArgumentError, match="is not UTF-8 text"):
        PinsParams.parse(ids_file=str(binary))


def test_unknown_argument_is_named() -> None:
    with pytest.raises(ArgumentError, match=r"unknown argument.*idsfile"):
        PinsParams.parse(idsfile="x")


def test_good_arguments(tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("1\n")
    assert PinsParams.parse(ids_file=str(ids), keyword=" cats ") == PinsParams(
        ids_file=ids, keyword="cats", images=False
    )
    assert PinsParams.parse(ids_file=str(ids), images="1").images is True
    assert PinsParams.parse(keyword="cats").images is True  # the workflow downloads images
    assert PinsParams.parse(keyword="cats", images="0").images is False


def test_bad_images_flag() -> None:
    with pytest.raises(ArgumentError, match="images must be 0 or 1, got 'maybe'"):
        PinsParams.parse(images="maybe")
