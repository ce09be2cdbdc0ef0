"""Load a MovieLens dataset (the CSV layout of latest-small … 32m, or the ml-100k layout).

:func:`load_dataset` reads every file, checks it, and only then builds the catalog and the
ratings frame, so a missing, truncated or malformed file raises one :class:`DatasetError`
naming the file and the problem, and nothing half-loaded is returned.

Ratings come back as a frame with the columns ``user_id`` (int64), ``movie_id`` (int64),
``rating`` (float32) and ``timestamp`` (int64, seconds since 1970).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recengine.catalog import Catalog
from recengine.config import Settings, get_settings
from recengine.datasets import dataset_name, resolve_dataset
from recengine.errors import DatasetError
from recengine.metadata import read_imdb5000, read_tmdb
from recengine.titles import parse_movielens_title

__all__ = ["MovieLensData", "load_dataset", "load_folder", "RATING_COLUMNS"]

log = logging.getLogger(__name__)

RATING_COLUMNS = ("user_id", "movie_id", "rating", "timestamp")

# Genre columns of ml-100k's u.item, in file order; "Children's" is renamed to the later layout's "Children".
_ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
_NO_GENRES = {"(no genres listed)", "unknown", ""}


@dataclass
class MovieLensData:
    """A loaded dataset: its catalog and its ratings."""

    name: str
    folder: Path
    catalog: Catalog
    ratings: pd.DataFrame


def _read(path: Path, required: tuple[str, ...], **options) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetError(f"{path}: file not found.")
    try:
        frame = pd.read_csv(path, **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError) as error:
        raise DatasetError(f"{path}: cannot be parsed ({error}).") from error
    absent = [column for column in required if column not in frame.columns]
    if absent:
        raise DatasetError(f"{path}: missing column(s) {', '.join(absent)}; found {', '.join(map(str, frame.columns))}.")
    return frame


def _check_complete(frame: pd.DataFrame, columns: tuple[str, ...], path: Path) -> None:
    """Raise when a required cell is empty, which is how a truncated last line shows up."""
    incomplete = frame[list(columns)].isna().any(axis=1)
    if incomplete.any():
        first = int(np.flatnonzero(incomplete.to_numpy())[0])
        raise DatasetError(
            f"{path}: {int(incomplete.sum())} row(s) have missing values, the first at data row {first + 1}; "
            "the file may be truncated."
        )


def _as_int(frame: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() | (values != values.round())
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise DatasetError(f"{path}: column {column} has a non-integer value {frame[column].iloc[first]!r} at data row {first + 1}.")
    return values.astype("int64")


def _check_ratings(ratings: pd.DataFrame, path: Path) -> pd.DataFrame:
    _check_complete(ratings, RATING_COLUMNS, path)
    result = pd.DataFrame({
        "user_id": _as_int(ratings, "user_id", path),
        "movie_id": _as_int(ratings, "movie_id", path),
        "rating": pd.to_numeric(ratings["rating"], errors="coerce").astype("float32"),
        "timestamp": _as_int(ratings, "timestamp", path),
    })
    out_of_scale = result["rating"].isna() | (result["rating"] < 0.5) | (result["rating"] > 5)
    if out_of_scale.any():
        first = int(np.flatnonzero(out_of_scale.to_numpy())[0])
        raise DatasetError(f"{path}: rating {ratings['rating'].iloc[first]!r} at data row {first + 1} is outside 0.5–5.")
    return result


def _read_movielens_csv(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """Read movies, ratings, and when present tags and links of the CSV layout."""
    movies_path = folder / "movies.csv"
    movies = _read(movies_path, ("movieId", "title", "genres"), dtype={"title": str, "genres": str})
    _check_complete(movies, ("movieId", "title", "genres"), movies_path)
    movies["movieId"] = _as_int(movies, "movieId", movies_path)
    if movies["movieId"].duplicated().any():
        raise DatasetError(f"{movies_path}: movieId {int(movies['movieId'][movies['movieId'].duplicated()].iloc[0])} appears twice.")
    movies = movies.rename(columns={"movieId": "movie_id"})
    movies["genres"] = movies["genres"].map(lambda text: tuple(g for g in text.split("|") if g not in _NO_GENRES))

    ratings_path = folder / "ratings.csv"
    raw = _read(ratings_path, ("userId", "movieId", "rating", "timestamp"))
    ratings = _check_ratings(raw.rename(columns={"userId": "user_id", "movieId": "movie_id"}), ratings_path)

    tags = None
    tags_path = folder / "tags.csv"
    if tags_path.is_file():
        tags = _read(tags_path, ("movieId", "tag"), dtype={"tag": str})
        tags = tags.rename(columns={"movieId": "movie_id"}).dropna(subset=["movie_id", "tag"])
        tags["movie_id"] = _as_int(tags, "movie_id", tags_path)

    links = None
    links_path = folder / "links.csv"
    if links_path.is_file():
        links = _read(links_path, ("movieId", "imdbId", "tmdbId"))
        links = pd.DataFrame({
            "movie_id": _as_int(links, "movieId", links_path),
            "imdb_id": pd.to_numeric(links["imdbId"], errors="coerce").astype("Int64"),
            "tmdb_id": pd.to_numeric(links["tmdbId"], errors="coerce").astype("Int64"),
        }).drop_duplicates("movie_id").set_index("movie_id")
    return movies, ratings, tags, links


def _read_ml100k(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read ``u.item`` and ``u.data`` of the ml-100k layout."""
    items_path = folder / "u.item"
    columns = ["movie_id", "title", "release_date", "video_release_date", "imdb_url", *_ML100K_GENRES]
    items = _read(items_path, ("movie_id", "title"), sep="|", header=None, names=columns, encoding="latin-1", dtype={"title": str})
    _check_complete(items, ("movie_id", "title", *_ML100K_GENRES), items_path)
    items["movie_id"] = _as_int(items, "movie_id", items_path)
    flags = items[list(_ML100K_GENRES)].to_numpy(dtype=int)
    genres = [tuple(g for g, flag in zip(_ML100K_GENRES, row) if flag and g not in _NO_GENRES) for row in flags]
    movies = pd.DataFrame({"movie_id": items["movie_id"], "title": items["title"], "genres": genres})

    data_path = folder / "u.data"
    raw = _read(data_path, (), sep="\t", header=None, names=list(RATING_COLUMNS))
    ratings = _check_ratings(raw, data_path)
    return movies, ratings


def _tag_lists(tags: pd.DataFrame | None) -> dict[int, tuple[str, ...]]:
    """Return each movie's distinct lower-cased tags, most applied first (ties alphabetical)."""
    if tags is None or tags.empty:
        return {}
    cleaned = tags.assign(tag=tags["tag"].str.strip().str.lower())
    cleaned = cleaned[cleaned["tag"] != ""]
    counts = cleaned.groupby(["movie_id", "tag"]).size().reset_index(name="count")
    counts = counts.sort_values(["movie_id", "count", "tag"], ascending=[True, False, True])
    return {int(movie_id): tuple(group["tag"]) for movie_id, group in counts.groupby("movie_id", sort=False)}


def _attach_metadata(movies: pd.DataFrame, links: pd.DataFrame | None, imdb: pd.DataFrame | None, tmdb: pd.DataFrame | None) -> None:
    """Fill director, cast and keywords in place: The Movies Dataset first, IMDB-5000 for the rest."""
    count = len(movies)
    directors: list[str | None] = [None] * count
    casts: list[tuple[str, ...]] = [()] * count
    keywords: list[tuple[str, ...]] = [()] * count
    sources = [(tmdb, "tmdb_id"), (imdb, "imdb_id")]
    for source, key in sources:
        if source is None or links is None:
            continue
        ids = movies[key]
        for position, external_id in enumerate(ids):
            if pd.isna(external_id) or int(external_id) not in source.index:
                continue
            row = source.loc[int(external_id)]
            if directors[position] is None and row["director"]:
                directors[position] = row["director"]
            if not casts[position] and row["cast"]:
                casts[position] = tuple(row["cast"])
            if not keywords[position] and row["keywords"]:
                keywords[position] = tuple(row["keywords"])
    movies["director"] = directors
    movies["cast"] = casts
    movies["keywords"] = keywords


def load_folder(
    folder: Path,
    name: str | None = None,
    imdb_metadata: Path | None = None,
    tmdb_dir: Path | None = None,
) -> MovieLensData:
    """Load an unpacked MovieLens folder, adding metadata from the files given."""
    folder = Path(folder)
    name = name or dataset_name(folder)
    if (folder / "movies.csv").is_file():
        movies, ratings, tags, links = _read_movielens_csv(folder)
    elif (folder / "u.data").is_file():
        (movies, ratings), tags, links = _read_ml100k(folder), None, None
    else:
        raise DatasetError(f"{folder}: no movies.csv (MovieLens CSV layout) or u.data (ml-100k layout).")

    unknown = ~ratings["movie_id"].isin(movies["movie_id"])
    if unknown.any():
        raise DatasetError(
            f"{folder}: {int(unknown.sum())} rating(s) refer to movies missing from the movie list, "
            f"for example movie id {int(ratings.loc[unknown, 'movie_id'].iloc[0])}."
        )
    imdb = read_imdb5000(imdb_metadata) if imdb_metadata else None
    tmdb = read_tmdb(tmdb_dir) if tmdb_dir else None

    parsed = [parse_movielens_title(raw) for raw in movies["title"]]
    frame = pd.DataFrame(index=pd.Index(movies["movie_id"].to_numpy(), name="movie_id"))
    frame["title"] = [p.title for p in parsed]
    frame["display_title"] = [p.display_title for p in parsed]
    frame["year"] = pd.array([p.year for p in parsed], dtype="Int64")
    frame["alt_titles"] = [p.alt_titles for p in parsed]
    frame["genres"] = movies["genres"].to_numpy()
    stats = ratings.groupby("movie_id")["rating"].agg(["count", "mean"])
    frame["rating_count"] = stats["count"].reindex(frame.index).fillna(0).astype("int64")
    frame["rating_mean"] = stats["mean"].reindex(frame.index).astype("float64")
    tag_lists = _tag_lists(tags)
    frame["tags"] = [tag_lists.get(int(movie_id), ()) for movie_id in frame.index]
    if links is not None:
        frame["imdb_id"] = links["imdb_id"].reindex(frame.index).astype("Int64")
        frame["tmdb_id"] = links["tmdb_id"].reindex(frame.index).astype("Int64")
    else:
        frame["imdb_id"] = pd.array([pd.NA] * len(frame), dtype="Int64")
        frame["tmdb_id"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    if (imdb is not None or tmdb is not None) and links is None:
        log.info("%s has no links.csv, so director, cast and keywords are not joined", folder)
    _attach_metadata(frame, links, imdb, tmdb)
    ratings = ratings.reset_index(drop=True)
    log.info("Loaded %s: %d movies, %d ratings, %d users", name, len(frame), len(ratings), ratings["user_id"].nunique())
    return MovieLensData(name=name, folder=folder, catalog=Catalog(frame, name=name), ratings=ratings)


def load_dataset(source: str | Path | None = None, settings: Settings | None = None, with_metadata: bool = True) -> MovieLensData:
    """Resolve ``source`` (a name, zip or folder; default: the configured dataset) and load it.

    With ``with_metadata`` the configured IMDB-5000 file and The Movies Dataset folder are joined in.
    """
    settings = settings or get_settings()
    folder = resolve_dataset(source, settings)
    name = dataset_name(source if source is not None else settings.dataset)
    return load_folder(
        folder,
        name=name,
        imdb_metadata=settings.imdb_metadata if with_metadata else None,
        tmdb_dir=settings.tmdb_dir if with_metadata else None,
    )
