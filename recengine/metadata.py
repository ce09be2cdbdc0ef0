"""Director, leading cast and plot keywords from IMDB-5000 or The Movies Dataset.

Both sources are joined to MovieLens through ``links.csv``: IMDB-5000 by IMDb id, The Movies
Dataset (``movies_metadata.csv``, ``credits.csv``, ``keywords.csv``) by TMDB id. Each reader
returns a frame indexed by that id with the columns ``director`` (str or None), ``cast``
(tuple of up to three names) and ``keywords`` (tuple).
"""

from __future__ import annotations

import ast
import logging
import re
from pathlib import Path

import pandas as pd

from recengine.errors import DatasetError

__all__ = ["read_imdb5000", "read_tmdb", "METADATA_COLUMNS"]

log = logging.getLogger(__name__)

METADATA_COLUMNS = ("director", "cast", "keywords")

_IMDB_ID_IN_LINK = re.compile(r"/title/tt(\d+)")
_TOP_CAST = 3


def _read_csv(path: Path, required: tuple[str, ...], **options) -> pd.DataFrame:
    """Read a CSV file, turning every pandas or I/O failure into one :class:`DatasetError`."""
    if not path.is_file():
        raise DatasetError(f"{path}: file not found.")
    try:
        frame = pd.read_csv(path, **options)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as error:
        raise DatasetError(f"{path}: cannot be parsed as CSV ({error}).") from error
    absent = [column for column in required if column not in frame.columns]
    if absent:
        raise DatasetError(f"{path}: missing column(s) {', '.join(absent)}; found {', '.join(map(str, frame.columns))}.")
    return frame


def _names(values) -> tuple[str, ...]:
    return tuple(str(value).strip() for value in values if isinstance(value, str) and value.strip())


def read_imdb5000(path: Path) -> pd.DataFrame:
    """Read IMDB-5000 ``movie_metadata.csv`` into a frame indexed by IMDb id (the number after ``tt``)."""
    frame = _read_csv(
        Path(path),
        ("director_name", "actor_1_name", "actor_2_name", "actor_3_name", "plot_keywords", "movie_imdb_link"),
        dtype=str,
        keep_default_na=False,
    )
    imdb_ids = frame["movie_imdb_link"].str.extract(_IMDB_ID_IN_LINK, expand=False)
    frame = frame.assign(imdb_id=pd.to_numeric(imdb_ids, errors="coerce")).dropna(subset=["imdb_id"])
    if frame.empty:
        raise DatasetError(f"{path}: no row has an IMDb link of the form /title/tt<digits>.")
    frame["imdb_id"] = frame["imdb_id"].astype("int64")
    # The file lists some movies twice; the first row is kept.
    frame = frame.drop_duplicates("imdb_id").set_index("imdb_id")
    result = pd.DataFrame(index=frame.index)
    result["director"] = frame["director_name"].map(lambda name: name.strip() or None)
    result["cast"] = [
        _names(actors) for actors in frame[["actor_1_name", "actor_2_name", "actor_3_name"]].itertuples(index=False)
    ]
    result["keywords"] = frame["plot_keywords"].map(lambda text: _names(text.split("|")))
    return result


def _literal_list(text, source: Path, row_id) -> list:
    """Parse one cell that The Movies Dataset writes as a Python list of dicts."""
    if not isinstance(text, str) or not text.strip():
        return []
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as error:
        raise DatasetError(f"{source}: row with id {row_id} has a malformed list ({error}).") from error
    return value if isinstance(value, list) else []


def read_tmdb(folder: Path) -> pd.DataFrame:
    """Read The Movies Dataset layout into a frame indexed by TMDB id.

    ``credits.csv`` gives the director (crew job ``Director``) and the first three cast members by
    their ``order``; ``keywords.csv`` gives keyword names. ``movies_metadata.csv`` must be present
    and lists the ids that are kept (its rows with a non-numeric id are skipped, as the published
    file has a few).
    """
    folder = Path(folder)
    metadata_path = folder / "movies_metadata.csv"
    credits_path = folder / "credits.csv"
    keywords_path = folder / "keywords.csv"
    metadata = _read_csv(metadata_path, ("id", "imdb_id", "title"), dtype=str, low_memory=False)
    credits = _read_csv(credits_path, ("cast", "crew", "id"), dtype=str)
    keywords = _read_csv(keywords_path, ("id", "keywords"), dtype=str)

    known_ids = pd.to_numeric(metadata["id"], errors="coerce").dropna().astype("int64").unique()

    def numeric_ids(frame: pd.DataFrame, path: Path) -> pd.Series:
        ids = pd.to_numeric(frame["id"], errors="coerce")
        if ids.isna().any():
            raise DatasetError(f"{path}: {int(ids.isna().sum())} row(s) have a missing or non-numeric id.")
        return ids.astype("int64")

    credits = credits.assign(id=numeric_ids(credits, credits_path)).drop_duplicates("id").set_index("id")
    keywords = keywords.assign(id=numeric_ids(keywords, keywords_path)).drop_duplicates("id").set_index("id")

    result = pd.DataFrame(index=pd.Index(known_ids, name="tmdb_id"))
    directors, casts = {}, {}
    for tmdb_id, row in credits.iterrows():
        crew = _literal_list(row["crew"], credits_path, tmdb_id)
        directors[tmdb_id] = next(
            (member.get("name") for member in crew if isinstance(member, dict) and member.get("job") == "Director"), None
        )
        cast = [member for member in _literal_list(row["cast"], credits_path, tmdb_id) if isinstance(member, dict)]
        cast.sort(key=lambda member: member.get("order", 1_000_000))
        casts[tmdb_id] = _names(member.get("name") for member in cast[:_TOP_CAST])
    words = {
        tmdb_id: _names(item.get("name") for item in _literal_list(text, keywords_path, tmdb_id) if isinstance(item, dict))
        for tmdb_id, text in keywords["keywords"].items()
    }
    result["director"] = [directors.get(tmdb_id) for tmdb_id in result.index]
    result["cast"] = [casts.get(tmdb_id, ()) for tmdb_id in result.index]
    result["keywords"] = [words.get(tmdb_id, ()) for tmdb_id in result.index]
    return result
