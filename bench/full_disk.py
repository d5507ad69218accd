"""Benchmark: pin images into a FILES_STORE that fills up, then the same command with space freed.

    python bench/full_disk.py [--pins 400] [--store-mb 2] [--latency-ms 20]   # as root: it mounts a tmpfs

FILES_STORE is a tmpfs of --store-mb MB (the images of --pins pins need about 10 MB). The first
`scrapy crawl pins -a images=1` must stop with one ERROR line naming the folder and exit 1,
with every image it recorded whole on disk (JPEG start and end markers, the file's full size)
and no `.part` or empty file left. The tmpfs then grows to 64 MB (space freed) and the same
command must finish: exit 0, every pin with details and a whole image, no pin's details fetched
twice, and no image that was saved fetched again. Results go to bench/results/full_disk.json.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, SCRAPY, pins_crawl_args, save_results
from sandbox.process import SandboxProcess

API = ("www.pinterest.com", "/resource/PinResource/get/")


def whole_jpeg(path: Path) -> bool:
    data = path.read_bytes()
    return len(data) > 4 and data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"


def crawl(argv: list[str]) -> tuple[int, str]:
    done = subprocess.run([SCRAPY, "crawl", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600)
    return done.returncode, done.stdout + done.stderr


def look(db: Path, store: Path, output: str) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        details = conn.execute("SELECT count(*) FROM pins WHERE details_fetched_at IS NOT NULL").fetchone()[0]
        recorded = [
            Path(p) for (p,) in conn.execute("SELECT image_path FROM pins WHERE image_path IS NOT NULL")
        ]
    files = [p for p in store.rglob("*") if p.is_file()]
    return {
        "errors": [line.split("] ERROR: ", 1)[1] for line in output.splitlines() if "] ERROR: " in line],
        "tracebacks": output.count("Traceback"),
        "pins_with_details": details,
        "images_recorded": len(recorded),
        "recorded_not_whole": sum(not (p.is_file() and whole_jpeg(p)) for p in recorded),
        "files_on_disk": len(files),
        "files_not_whole": sum(not whole_jpeg(p) for p in files if p.suffix != ".part"),
        "part_files": sum(p.suffix == ".part" for p in files),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pins", type=int, default=400)
    parser.add_argument("--store-mb", type=float, default=2)
    parser.add_argument("--latency-ms", type=float, default=20)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("error: mounting a tmpfs needs root; run as root", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-full-disk-"))
    store, db = work / "images", work / "pins.sqlite3"
    store.mkdir()
    ids = work / "ids.txt"
    ids.write_text("".join(f"{70_000_000 + i}\n" for i in range(args.pins)))
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={int(args.store_mb * 1024)}k", "tmpfs", str(store)], check=True
    )
    try:
        with SandboxProcess(latency_ms=args.latency_ms) as sandbox:
            argv = [*pins_crawl_args(ids, db, sandbox.url, 16), "-a", "keyword=full disk", "-a", "images=1"]
            argv += ["-s", "LOG_LEVEL=INFO", "-s", "BROWSER_ENABLED=False"]
            first_rc, first_out = crawl(argv)
            first = look(db, store, first_out)
            saved_first = first["images_recorded"]
            images_first = sandbox.stats()["resources"].get("image", {}).get("unique", 0)
            sandbox.reset()
            subprocess.run(["mount", "-o", "remount,size=65536k", str(store)], check=True)
            second_rc, second_out = crawl(argv)
            second = look(db, store, second_out)
            served = sandbox.stats()
            details_again = sum(served["requests"].get(" ".join(API), {}).values())
            images_second = served["resources"].get("image", {}).get("unique", 0)
    finally:
        subprocess.run(["umount", "-l", str(store)], check=False)

    checks = {
        "first run: exit 1": first_rc == 1,
        "first run: one ERROR line, naming the folder": len(first["errors"]) == 1
        and f"No space left in {store} (FILES_STORE, " in first["errors"][0],
        "first run: no traceback": first["tracebacks"] == 0,
        "first run: every recorded image whole on disk": first["recorded_not_whole"] == 0 and saved_first > 0,
        "first run: no .part or cut file left": first["part_files"] == 0 and first["files_not_whole"] == 0,
        "freed: exit 0": second_rc == 0,
        f"freed: all {args.pins} pins with details and a whole image": second["pins_with_details"]
        == args.pins
        and second["images_recorded"] == args.pins
        and second["recorded_not_whole"] == 0,
        "freed: details of the first run's pins not fetched again": details_again
        == args.pins - first["pins_with_details"],
        "freed: images saved by the first run not fetched again": images_second == args.pins - saved_first,
    }
    print(f"FILES_STORE: a tmpfs of {args.store_mb} MB; {args.pins} pins, images on")
    print(
        f"first run : exit {first_rc}; {first['pins_with_details']} pins with details, "
        f"{first['images_recorded']} images recorded ({first['recorded_not_whole']} not whole), "
        f"{images_first} images fetched, {first['files_on_disk']} files on disk, {first['part_files']} .part"
    )
    for line in first["errors"]:
        print(f"  ERROR: {line}")
    print(
        f"freed     : exit {second_rc}; {second['pins_with_details']} pins with details, "
        f"{second['images_recorded']} images recorded ({second['recorded_not_whole']} not whole); "
        f"fetched this run: {details_again} pins' details, {images_second} images"
    )
    for what, met in checks.items():
        print(f"  {'MET' if met else 'NOT MET'}: {what}")
    ok = all(checks.values())
    out = save_results("full_disk", {"args": vars(args), "first": first, "second": second, "checks": checks})
    print(f"results: {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
