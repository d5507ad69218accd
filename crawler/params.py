"""Spider arguments as typed models, validated before the crawl starts (see crawler.commands.crawl)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class ArgumentError(ValueError):
    """A spider argument is wrong; the message names the argument and what is wrong."""


@dataclass(frozen=True)
class PinsParams:
    ids_file: Path | None = None
    keyword: str | None = None
    images: bool = True

    @classmethod
    def parse(
        cls,
        ids_file: str | None = None,
        keyword: str | None = None,
        images: str | None = None,
        **unknown: str,
    ) -> PinsParams:
        if unknown:
            names = ", ".join(sorted(unknown))
            raise ArgumentError(
                f"unknown argument(s) {names}; use -a ids_file=PATH, -a keyword=K, -a images=0|1"
            )
        if images is not None and images.strip().lower() not in ("0", "1", "true", "false", "yes", "no"):
            raise ArgumentError(f"images must be 0 or 1, got {images!r}")
        # the keyword workflow downloads images unless told not to; an ids file enriches details
        # only, unless told to
        download = (ids_file is None) if images is None else images.strip().lower() in ("1", "true", "yes")
        if keyword is not None and not keyword.strip():
            raise ArgumentError("keyword is empty")
        path = None
        if ids_file is not None:
            path = Path(ids_file).expanduser()
            _check_ids_file(path, ids_file)
        return cls(ids_file=path, keyword=keyword.strip() if keyword else None, images=download)


def _check_ids_file(path: Path, given: str) -> None:
    if not given.strip():
        raise ArgumentError("ids_file is empty; give the path of a file with one pin id per line")
    if not path.exists():
        raise ArgumentError(f"ids_file {given!r} does not exist")
    if path.is_dir():
        raise ArgumentError(f"ids_file {given!r} is a directory, not a file")
    try:
        with path.open(encoding="utf-8") as lines:
            has_content = any(line.strip() and not line.lstrip().startswith("#") for line in lines)
    except PermissionError:
        raise ArgumentError(f"ids_file {given!r} cannot be read (permission denied)") from None
    except UnicodeDecodeError as exc:
        raise ArgumentError(f"ids_file {given!r} is not UTF-8 text (byte {exc.start})") from None
    if not has_content:
        raise ArgumentError(f"ids_file {given!r} is empty: it has no pin ids")


@dataclass(frozen=True)
class PinsSearchParams:
    keyword: str
    limit: int | None = None

    @classmethod
    def parse(cls, keyword: str | None = None, limit: str | None = None, **unknown: str) -> PinsSearchParams:
        if unknown:
            names = ", ".join(sorted(unknown))
            raise ArgumentError(f"unknown argument(s) {names}; use -a keyword=K [-a limit=N]")
        if keyword is None or not keyword.strip():
            raise ArgumentError("keyword is required: -a keyword=K")
        count = None
        if limit is not None:
            try:
                count = int(limit)
            except ValueError:
                raise ArgumentError(f"limit {limit!r} is not a whole number") from None
            if count <= 0:
                raise ArgumentError(f"limit must be at least 1, got {count}")
        return cls(keyword=keyword.strip(), limit=count)


@dataclass(frozen=True)
class JDPowerParams:
    max_downloads: int | None = None

    @classmethod
    def parse(cls, max_downloads: str | None = None, **unknown: str) -> JDPowerParams:
        if unknown:
            names = ", ".join(sorted(unknown))
            raise ArgumentError(f"unknown argument(s) {names}; use -a max_downloads=N")
        count = None
        if max_downloads is not None:
            try:
                count = int(max_downloads)
            except ValueError:
                raise ArgumentError(f"max_downloads must be a whole number, got {max_downloads!r}") from None
            if count < 1:
                raise ArgumentError(f"max_downloads must be at least 1, got {count}")
        return cls(max_downloads=count)


def jdpower_credentials(environ: dict[str, str]) -> tuple[str, str]:
    """JD_USER and JD_PASS from the environment (or .env, loaded into it by the settings)."""
    user, password = environ.get("JD_USER", "").strip(), environ.get("JD_PASS", "")
    missing = [name for name, value in (("JD_USER", user), ("JD_PASS", password)) if not value]
    if missing:
        raise ArgumentError(f"{' and '.join(missing)} not set: put them in the environment or in .env")
    return user, password


@dataclass(frozen=True)
class LinksParams:
    batch: Path
    retry_failed: bool = False
    max_comments: int = 1000  # per YouTube video's comments, per Reddit thread
    sort: str = "top"  # YouTube comments: top or new

    @classmethod
    def parse(
        cls,
        batch: str | None = None,
        retry_failed: str | None = None,
        max_comments: str | None = None,
        sort: str | None = None,
        **unknown: str,
    ) -> LinksParams:
        if unknown:
            names = ", ".join(sorted(unknown))
            raise ArgumentError(
                f"unknown argument(s) {names}; use -a batch=PATH [-a retry_failed=1] [-a max_comments=N] "
                "[-a sort=top|new]"
            )
        if batch is None or not batch.strip():
            raise ArgumentError("batch is required: -a batch=PATH (a JSON batch or a text file of URLs)")
        path = Path(batch).expanduser()
        if not path.exists():
            raise ArgumentError(f"batch {batch!r} does not exist")
        if path.is_dir():
            raise ArgumentError(f"batch {batch!r} is a directory, not a file")
        try:
            path.open("rb").close()
        except PermissionError:
            raise ArgumentError(f"batch {batch!r} cannot be read (permission denied)") from None
        flag = (retry_failed or "0").strip().lower()
        if flag not in ("0", "1", "true", "false", "yes", "no"):
            raise ArgumentError(f"retry_failed must be 0 or 1, got {retry_failed!r}")
        limit = 1000
        if max_comments is not None:
            try:
                limit = int(max_comments)
            except ValueError:
                raise ArgumentError(f"max_comments must be a whole number, got {max_comments!r}") from None
            if limit < 0:
                raise ArgumentError(f"max_comments must be 0 or more, got {limit}")
        order = (sort or "top").strip().lower()
        if order not in ("top", "new"):
            raise ArgumentError(f"sort must be top or new, got {sort!r}")
        return cls(path, flag in ("1", "true", "yes"), limit, order)
