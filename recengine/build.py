"""Build trained artefacts under ``models/<dataset>/<artefact>/``, skipping those already up to date.

Each artefact has an :class:`ArtefactBuilder`. Before building, its fingerprint is computed from
the dataset files (path, size, modification time), the metadata files, the builder's version and
its parameters. When the fingerprint matches the ``manifest.json`` written by the last successful
build, the artefact is left alone. A build writes into a temporary folder that replaces the old
one only when the build succeeds, so a failed or interrupted build leaves the previous artefact.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import shutil
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from recengine.config import Settings, get_settings
from recengine.content import ContentConfig, build_content_artefact
from recengine.datasets import dataset_name, resolve_dataset
from recengine.errors import ArtefactError
from recengine.movielens import MovieLensData, load_folder
from recengine.nextwatch.recommender import build_artefact as build_nextwatch_artefact, build_params as nextwatch_params
from recengine.svd import build_svd_artefact, svd_build_params

__all__ = [
    "ArtefactBuilder", "BuildContext", "BUILDERS", "build_artefacts", "artefact_dir", "load_catalog_artefact",
    "read_manifest",
]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


@dataclass
class BuildContext:
    """Inputs of one builder: the settings, the dataset and the folder to write into."""

    settings: Settings
    dataset: str
    folder: Path
    """Unpacked dataset folder."""
    out_dir: Path
    """Empty folder the builder writes its files into."""
    seed: int = 42

    @cached_property
    def data(self) -> MovieLensData:
        """Return the loaded dataset, read once and shared by every builder of this run."""
        return _load_shared(self.settings, self.dataset, self.folder)


@dataclass(frozen=True)
class ArtefactBuilder:
    """Recipe for one artefact: its build function and the inputs of its fingerprint."""

    name: str
    version: str
    """Changed whenever the build code changes what it writes, so old artefacts are rebuilt."""
    build: Callable[[BuildContext], dict[str, Any] | None]
    """Writes files into ``context.out_dir`` and returns figures for the manifest (sizes, timings)."""
    params: dict[str, Any] = field(default_factory=dict)
    uses_metadata: bool = True


_LOADED: dict[tuple, MovieLensData] = {}


def _load_shared(settings: Settings, dataset: str, folder: Path) -> MovieLensData:
    key = (str(folder), str(settings.imdb_metadata), str(settings.tmdb_dir))
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = load_folder(folder, name=dataset, imdb_metadata=settings.imdb_metadata, tmdb_dir=settings.tmdb_dir)
    return _LOADED[key]


def _file_identity(path: Path | None) -> list:
    if path is None:
        return [None]
    path = Path(path)
    if path.is_dir():
        return sorted(
            [str(item.relative_to(path)), item.stat().st_size, item.stat().st_mtime_ns]
            for item in path.rglob("*") if item.is_file() and not item.name.startswith(".")
        )
    if path.is_file():
        return [str(path), path.stat().st_size, path.stat().st_mtime_ns]
    return [str(path), "missing"]


def _fingerprint(builder: ArtefactBuilder, settings: Settings, folder: Path, seed: int) -> str:
    parts = {
        "builder": builder.name,
        "version": builder.version,
        "params": builder.params,
        "seed": seed,
        "dataset": _file_identity(folder),
        "imdb": _file_identity(settings.imdb_metadata) if builder.uses_metadata else None,
        "tmdb": _file_identity(settings.tmdb_dir) if builder.uses_metadata else None,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def artefact_dir(artefact: str, dataset: str | None = None, settings: Settings | None = None) -> Path:
    """Return ``models/<dataset>/<artefact>``."""
    settings = settings or get_settings()
    return settings.models_dir / dataset_name(dataset or settings.dataset) / artefact


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """Return an artefact folder's manifest, or None when it has not been built."""
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _build_catalog(context: BuildContext) -> dict[str, Any]:
    data = context.data
    with open(context.out_dir / "catalog.pkl", "wb") as handle:
        pickle.dump({"name": data.name, "movies": data.catalog.movies, "ratings": data.ratings}, handle, protocol=5)
    return {"movies": len(data.catalog), "ratings": len(data.ratings)}


def load_catalog_artefact(dataset: str | None = None, settings: Settings | None = None) -> MovieLensData:
    """Load the catalog and ratings saved by the ``catalog`` artefact (fast start-up for the assistant)."""
    from recengine.catalog import Catalog

    folder = artefact_dir("catalog", dataset, settings)
    path = folder / "catalog.pkl"
    if not path.is_file():
        raise ArtefactError(f"{path} is missing: run `python -m recengine build` first.")
    try:
        with open(path, "rb") as handle:
            saved = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError) as error:
        raise ArtefactError(f"{path} is unreadable ({error}): run `python -m recengine build --force`.") from error
    return MovieLensData(name=saved["name"], folder=folder, catalog=Catalog(saved["movies"], name=saved["name"]), ratings=saved["ratings"])


BUILDERS: list[ArtefactBuilder] = [
    ArtefactBuilder("catalog", "1", _build_catalog),
    ArtefactBuilder("content", "1", build_content_artefact, params=ContentConfig().as_dict()),
    ArtefactBuilder("nextwatch", "1", build_nextwatch_artefact, params=nextwatch_params(), uses_metadata=False),
    ArtefactBuilder("svd", "1", build_svd_artefact, params=svd_build_params(), uses_metadata=False),
]


def build_artefacts(
    dataset: str | None = None,
    only: list[str] | None = None,
    force: bool = False,
    settings: Settings | None = None,
    seed: int = 42,
    show_progress: bool = False,
) -> dict[str, str]:
    """Build every artefact (or those named in ``only``) that is out of date; return each one's outcome."""
    settings = settings or get_settings()
    source = dataset or settings.dataset
    folder = resolve_dataset(source, settings)
    name = dataset_name(source)
    selected = [builder for builder in BUILDERS if not only or builder.name in only]
    unknown = set(only or ()) - {builder.name for builder in BUILDERS}
    if unknown:
        raise ArtefactError(f"Unknown artefact(s) {', '.join(sorted(unknown))}; known: {', '.join(b.name for b in BUILDERS)}.")
    outcomes: dict[str, str] = {}
    progress = tqdm(selected, desc="artefacts", unit="artefact", disable=not show_progress)
    for builder in progress:
        progress.set_postfix_str(builder.name)
        target = settings.models_dir / name / builder.name
        fingerprint = _fingerprint(builder, settings, folder, seed)
        manifest = read_manifest(target)
        if not force and manifest and manifest.get("fingerprint") == fingerprint:
            outcomes[builder.name] = "up to date"
            continue
        staging = target.with_name(target.name + ".building")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        context = BuildContext(settings=settings, dataset=name, folder=folder, out_dir=staging, seed=seed)
        log.info("Building %s for %s", builder.name, name)
        started = time.perf_counter()
        try:
            figures = builder.build(context) or {}
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        seconds = time.perf_counter() - started
        (staging / MANIFEST).write_text(json.dumps({
            "artefact": builder.name, "dataset": name, "fingerprint": fingerprint, "version": builder.version,
            "params": builder.params, "seed": seed, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seconds": round(seconds, 2), **figures,
        }, indent=2, default=str))
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        outcomes[builder.name] = f"built in {seconds:.1f} s"
    return outcomes
