"""Find, download and unpack MovieLens datasets.

A dataset is named (``ml-latest-small``, ``ml-100k``, ``ml-latest``, ``ml-25m``, ``ml-32m``) or
given as a path to a zip or an unpacked folder. Names are looked up first in the offline mirror
(``Settings.data_dir``), then downloaded from GroupLens, whose ``.md5`` file beside each zip
is checked before the archive is used. Zips are unpacked once into ``<var>/datasets/<name>/``;
a stamp file records which archive was unpacked, so a second run does nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import urllib.request
import zipfile
from pathlib import Path

from recengine.config import Settings, get_settings
from recengine.errors import DatasetError

__all__ = ["KNOWN_DATASETS", "GROUPLENS_URL", "resolve_dataset", "dataset_name", "md5_of"]

log = logging.getLogger(__name__)

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens"

KNOWN_DATASETS = ("ml-latest-small", "ml-100k", "ml-latest", "ml-25m", "ml-32m")

# A folder is a dataset when it contains one of these files.
_MARKER_FILES = ("movies.csv", "u.data")

_STAMP = ".unpacked-from.json"


def md5_of(path: Path, chunk_size: int = 1 << 20) -> str:
    """Return the hex MD5 digest of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dataset_name(source: str | Path) -> str:
    """Return the short name used for artefact folders: ``ml-latest-small`` for a name, a zip or a folder."""
    path = Path(source)
    name = path.name
    if name.endswith(".zip"):
        name = name[: -len(".zip")]
    return name


def _is_dataset_folder(folder: Path) -> bool:
    return folder.is_dir() and any((folder / marker).is_file() for marker in _MARKER_FILES)


def _dataset_folder_inside(folder: Path) -> Path | None:
    """Return ``folder`` or its single sub-folder when that is where the CSV files are."""
    if _is_dataset_folder(folder):
        return folder
    children = [child for child in folder.iterdir() if child.is_dir()] if folder.is_dir() else []
    for child in children:
        if _is_dataset_folder(child):
            return child
    return None


def _unpack(archive: Path, settings: Settings) -> Path:
    """Unpack ``archive`` under the var folder unless the same archive was unpacked before."""
    target = settings.var_dir / "datasets" / dataset_name(archive)
    stat = archive.stat()
    identity = {"archive": str(archive.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    stamp = target / _STAMP
    if stamp.is_file():
        try:
            if json.loads(stamp.read_text()) == identity:
                found = _dataset_folder_inside(target)
                if found is not None:
                    return found
        except (OSError, ValueError):
            pass  # a damaged stamp means unpacking again
    log.info("Unpacking %s into %s", archive, target)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        with zipfile.ZipFile(archive) as bundle:
            broken = bundle.testzip()
            if broken is not None:
                raise DatasetError(f"{archive}: the member {broken} is corrupt (CRC mismatch); download the archive again.")
            bundle.extractall(partial)
    except zipfile.BadZipFile as error:
        shutil.rmtree(partial, ignore_errors=True)
        raise DatasetError(f"{archive}: not a readable zip archive ({error}); it may be truncated, so download it again.") from error
    except (DatasetError, OSError):
        shutil.rmtree(partial, ignore_errors=True)
        raise
    found = _dataset_folder_inside(partial)
    if found is None:
        shutil.rmtree(partial, ignore_errors=True)
        raise DatasetError(f"{archive}: contains neither movies.csv nor u.data, so it is not a MovieLens dataset.")
    (partial / _STAMP).write_text(json.dumps(identity))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return _dataset_folder_inside(target)  # type: ignore[return-value]


def _download(name: str, settings: Settings) -> Path:
    """Download ``<name>.zip`` from GroupLens and check it against the published MD5."""
    downloads = settings.var_dir / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    archive = downloads / f"{name}.zip"
    url = f"{GROUPLENS_URL}/{name}.zip"
    try:
        with urllib.request.urlopen(f"{url}.md5", timeout=60) as response:
            expected = response.read().decode("ascii", "replace").split()[0].lower()
        if not archive.is_file() or md5_of(archive) != expected:
            log.info("Downloading %s", url)
            partial = archive.with_suffix(".zip.partial")
            with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as handle:
                shutil.copyfileobj(response, handle)
            actual = md5_of(partial)
            if actual != expected:
                partial.unlink(missing_ok=True)
                raise DatasetError(f"{url}: MD5 {actual} does not match the published {expected}; try the download again.")
            partial.rename(archive)
    except OSError as error:
        raise DatasetError(
            f"Cannot download {url} ({error}). Without internet access, pass a local zip or folder, "
            "or set RECENGINE_DATA_DIR to a folder holding it."
        ) from error
    return archive


def resolve_dataset(source: str | Path | None = None, settings: Settings | None = None, download: bool = True) -> Path:
    """Return the folder holding a dataset's CSV files, unpacking or downloading it when needed.

    ``source`` is a known dataset name, a path to a zip, or a path to a folder; ``None`` means the
    configured default. A name is searched in the offline mirror first and downloaded only when
    ``download`` is true.
    """
    settings = settings or get_settings()
    source = source if source is not None else settings.dataset
    path = Path(source).expanduser()
    if path.exists():
        if path.is_dir():
            found = _dataset_folder_inside(path)
            if found is None:
                raise DatasetError(f"{path}: no movies.csv or u.data in this folder or its sub-folders.")
            return found
        if path.suffix == ".zip":
            return _unpack(path, settings)
        raise DatasetError(f"{path}: expected a MovieLens zip or folder.")
    name = str(source)
    if name not in KNOWN_DATASETS:
        raise DatasetError(f"Unknown dataset {name!r}: give a path to a zip or folder, or one of {', '.join(KNOWN_DATASETS)}.")
    if settings.data_dir is not None:
        folder = settings.data_dir / name
        if folder.is_dir() and _dataset_folder_inside(folder):
            return _dataset_folder_inside(folder)  # type: ignore[return-value]
        archive = settings.data_dir / f"{name}.zip"
        if archive.is_file():
            return _unpack(archive, settings)
    if not download:
        raise DatasetError(f"Dataset {name} is not in the offline folder {settings.data_dir} and downloading is off.")
    return _unpack(_download(name, settings), settings)
