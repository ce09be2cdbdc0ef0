"""Settings shared by every part of the engine: where data, artefacts and ratings live.

Each setting has a default that works on a fresh clone and an environment variable that
overrides it, so the command line, the action server and the tests agree without passing
paths around.

| variable | default |
|---|---|
| ``RECENGINE_DATA_DIR`` | ``../shared/datasets`` beside the repository when it exists, else none |
| ``RECENGINE_DATASET`` | ``ml-latest-small`` |
| ``RECENGINE_MODELS_DIR`` | ``models/`` in the repository |
| ``RECENGINE_VAR_DIR`` | ``var/`` in the repository (extracted datasets, the ratings file) |
| ``RECENGINE_DATABASE_URL`` | ``sqlite:///<var>/ratings.db`` |
| ``RECENGINE_IMDB_METADATA`` | ``<data dir>/imdb-5000/movie_metadata.csv`` when it exists |
| ``RECENGINE_TMDB_DIR`` | none: a folder with The Movies Dataset's CSV files |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["REPO_ROOT", "Settings", "get_settings"]

REPO_ROOT = Path(__file__).resolve().parent.parent

_SHARED_MIRROR = REPO_ROOT.parent / "shared" / "datasets"


def _path_from_env(name: str, default: Path | None) -> Path | None:
    value = os.environ.get(name, "").strip()
    if value:
        return Path(value).expanduser()
    return default


@dataclass(frozen=True)
class Settings:
    """Locations and defaults read once from the environment."""

    data_dir: Path | None
    """Folder with offline dataset copies (``<name>.zip`` or ``<name>/``), tried before downloading."""
    dataset: str
    """Dataset name or path that the ``build`` command and the assistant use."""
    models_dir: Path
    """Folder for trained artefacts, one sub-folder per dataset."""
    var_dir: Path
    """Folder for run-time state: extracted datasets, downloads and the SQLite ratings file."""
    database_url: str
    """SQLAlchemy URL of the ratings store."""
    imdb_metadata: Path | None
    """IMDB-5000 ``movie_metadata.csv`` used to add director, cast and keywords."""
    tmdb_dir: Path | None
    """Folder with ``movies_metadata.csv``, ``credits.csv`` and ``keywords.csv`` (The Movies Dataset)."""

    def with_overrides(self, **changes) -> "Settings":
        """Return a copy with some fields replaced, for tests and command-line options."""
        return replace(self, **changes)


def get_settings() -> Settings:
    """Read the settings from the environment, falling back to the defaults above."""
    data_dir = _path_from_env("RECENGINE_DATA_DIR", _SHARED_MIRROR if _SHARED_MIRROR.is_dir() else None)
    var_dir = _path_from_env("RECENGINE_VAR_DIR", REPO_ROOT / "var")
    models_dir = _path_from_env("RECENGINE_MODELS_DIR", REPO_ROOT / "models")
    default_imdb = data_dir / "imdb-5000" / "movie_metadata.csv" if data_dir else None
    if default_imdb is not None and not default_imdb.is_file():
        default_imdb = None
    database_url = os.environ.get("RECENGINE_DATABASE_URL", "").strip() or f"sqlite:///{var_dir / 'ratings.db'}"
    return Settings(
        data_dir=data_dir,
        dataset=os.environ.get("RECENGINE_DATASET", "").strip() or "ml-latest-small",
        models_dir=models_dir,
        var_dir=var_dir,
        database_url=database_url,
        imdb_metadata=_path_from_env("RECENGINE_IMDB_METADATA", default_imdb),
        tmdb_dir=_path_from_env("RECENGINE_TMDB_DIR", None),
    )
