"""Run folders: `<output>/<YYYY-MM-DD>/run-<N>/`, N counting that day's runs from 1."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

_RUN = re.compile(r"run-(\d+)$")


def new_run_dir(output: Path, day: date | None = None) -> Path:
    """Create and return the next run folder of `day` (today). Two runs starting at once get
    different folders: the number is taken by creating the folder, not by looking."""
    folder = output / (day or date.today()).isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    taken = [int(m.group(1)) for p in folder.iterdir() if (m := _RUN.fullmatch(p.name))]
    number = max(taken, default=0) + 1
    while True:
        candidate = folder / f"run-{number}"
        try:
            candidate.mkdir()
        except FileExistsError:
            number += 1
            continue
        return candidate
