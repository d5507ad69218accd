"""Pin images: saved under <store>/<keyword>/<pin id>.<ext>, 736x when the original is refused,
never fetched again once on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.pipelines.images import safe_folder
from tests.conftest import crawl, db_rows, write_ids
from tests.databases import database

IMAGES = ("i.pinimg.com", "/{size}/*.jpg")


@pytest.mark.parametrize(
    ("keyword", "folder"),
    [
        ("cats", "cats"),
        ("../../etc", "etc"),
        ("a/b\\c", "a_b_c"),
        ("..", "_unsorted"),
        (None, "_unsorted"),
        ("red cats!", "red_cats"),
        ("x" * 300, "x" * 100),
    ],
)
def test_keyword_folder_stays_inside_the_store(keyword: str | None, folder: str) -> None:
    assert safe_folder(keyword) == folder


def test_images_with_736x_fallback_and_no_refetch(make_sandbox, tmp_path: Path) -> None:
    from PIL import Image

    sb = make_sandbox(orig_forbidden_rate=0.3, seed=5)
    db = database(tmp_path)
    ids = write_ids(tmp_path / "ids.txt", range(1_100_000, 1_100_040))
    result = crawl(
        "pins",
        "-a",
        f"ids_file={ids}",
        "-a",
        "keyword=../Sky Lines",
        "-a",
        "images=1",
        "-s",
        "BROWSER_ENABLED=False",
        sandbox_url=sb.url,
        db=db,
    )
    assert result.returncode == 0, result.output[-2000:]
    rows = db_rows(db, "SELECT id, image_path, image_width FROM pins ORDER BY id")
    assert len(rows) == 40
    store = tmp_path / "images"
    for pin_id, image_path, width in rows:
        assert image_path == f"{store}/Sky_Lines/{pin_id}.jpg"
        with Image.open(image_path) as img:
            assert img.format == "JPEG"
            assert img.width == width or img.width == 736  # the original, or its 736x copy
    refused = sb.count(*IMAGES, "403")
    assert 3 <= refused <= 25
    assert f"'images/fallback_736x': {refused}," in result.output  # each refusal fell back once
    assert "'images/saved': 40," in result.output
    assert sorted(p.name for p in store.iterdir()) == ["Sky_Lines"]

    # an image on disk whose path the database lost (a crash between the two) is not fetched again
    # ... but an empty one (what a kill while Scrapy's store wrote it left) is, and a `.part`
    # left by a kill during our own write is cleared away
    db.execute("UPDATE pins SET image_path = NULL")
    emptied = Path(rows[0][1])
    emptied.write_bytes(b"")
    stale = emptied.with_name("1100001.jpg.part")
    stale.write_bytes(b"\xff\xd8 half an image")
    before = sb.count(*IMAGES)
    again = crawl(
        "pins", "-a", "keyword=../Sky Lines", "-s", "BROWSER_ENABLED=False", sandbox_url=sb.url, db=db
    )
    assert again.returncode == 0
    assert before < sb.count(*IMAGES) <= before + 2  # the emptied one: its original, or also 736x
    assert db_rows(db, "SELECT count(*) FROM pins WHERE image_path IS NOT NULL") == [(40,)]
    with Image.open(emptied) as img:
        assert img.format == "JPEG"
    assert not stale.exists()
    assert len(list((store / "Sky_Lines").iterdir())) == 40


def test_images_0_skips_images(sandbox, tmp_path: Path) -> None:
    db = database(tmp_path)
    ids = write_ids(tmp_path / "ids.txt", range(1_200_000, 1_200_010))
    result = crawl(
        "pins",
        "-a",
        f"ids_file={ids}",
        "-a",
        "images=0",
        "-s",
        "BROWSER_ENABLED=False",
        sandbox_url=sandbox.url,
        db=db,
    )
    assert result.returncode == 0
    assert db_rows(
        db, "SELECT count(*) FROM pins WHERE image_path IS NULL AND details_fetched_at IS NOT NULL"
    ) == [(10,)]
    assert not list((tmp_path / "images").rglob("*.*"))


def _whole_jpeg(path: Path) -> bool:
    data = path.read_bytes()
    return len(data) > 4 and data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"


def test_a_full_files_store_stops_with_one_line_keeps_only_whole_images_and_the_next_run_finishes(
    make_sandbox, small_disk, tmp_path: Path
) -> None:
    sb = make_sandbox(seed=3)
    db = database(tmp_path)  # FILES_STORE is tmp_path/images (tests.conftest.crawl)
    store = small_disk.mount(tmp_path / "images", 400)
    ids = write_ids(tmp_path / "ids.txt", range(1_200_000, 1_200_080))
    command = (
        "pins",
        "-a",
        f"ids_file={ids}",
        "-a",
        "keyword=full",
        "-a",
        "images=1",
        "-s",
        "BROWSER_ENABLED=False",
    )

    full = crawl(*command, sandbox_url=sb.url, db=db)

    assert full.returncode == 1, full.output[-2000:]
    errors = [line for line in full.output.splitlines() if "] ERROR: " in line]
    assert len(errors) == 1, errors
    assert (
        f"No space left in {store} (FILES_STORE, " in errors[0] and "run the same command again" in errors[0]
    )
    assert "Traceback" not in full.output
    recorded = [Path(p) for (p,) in db_rows(db, "SELECT image_path FROM pins WHERE image_path IS NOT NULL")]
    on_disk = [p for p in store.rglob("*") if p.is_file()]
    assert 0 < len(recorded) < 80
    assert all(_whole_jpeg(p) for p in recorded)  # nothing recorded that is not whole on disk
    assert all(_whole_jpeg(p) for p in on_disk) and not [p for p in on_disk if p.suffix == ".part"]

    small_disk.grow(store, 8192)  # space freed: the same command finishes
    again = crawl(*command, sandbox_url=sb.url, db=db)

    assert again.returncode == 0, again.output[-2000:]
    rows = db_rows(db, "SELECT image_path FROM pins WHERE details_fetched_at IS NOT NULL")
    assert len(rows) == 80 and all(p is not None and _whole_jpeg(Path(p)) for (p,) in rows)
