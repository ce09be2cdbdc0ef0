"""The movie catalog: one row per movie with titles, genres, rating statistics and metadata.

Every model and the assistant read movies through :class:`Catalog`. Its ``movies`` frame is
indexed by the dataset's movie id and has these columns:

| column | type | meaning |
|---|---|---|
| ``title`` | str | main title, article in front: ``The Matrix`` |
| ``display_title`` | str | ``The Matrix (1999)`` |
| ``year`` | Int64 | release year, missing for a few titles |
| ``alt_titles`` | tuple[str] | names given in parentheses: ``('Lola rennt',)`` |
| ``genres`` | tuple[str] | MovieLens genres; empty for "(no genres listed)" |
| ``rating_count``, ``rating_mean`` | int, float | over the dataset's ratings (mean is NaN without ratings) |
| ``tags`` | tuple[str] | user tags, lower-cased, most applied first |
| ``imdb_id``, ``tmdb_id`` | Int64 | from ``links.csv`` |
| ``director`` | str or None | from IMDB-5000 or The Movies Dataset |
| ``cast`` | tuple[str] | up to three leading actors |
| ``keywords`` | tuple[str] | plot keywords |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import pandas as pd

from recengine.errors import UnknownMovieError

__all__ = ["Movie", "Catalog", "CATALOG_COLUMNS"]

CATALOG_COLUMNS = (
    "title", "display_title", "year", "alt_titles", "genres", "rating_count", "rating_mean",
    "tags", "imdb_id", "tmdb_id", "director", "cast", "keywords",
)


@dataclass(frozen=True)
class Movie:
    """One catalog movie, as the assistant and the command line show it."""

    movie_id: int
    title: str
    display_title: str
    year: int | None
    genres: tuple[str, ...]
    alt_titles: tuple[str, ...] = ()
    rating_count: int = 0
    rating_mean: float | None = None
    tags: tuple[str, ...] = ()
    imdb_id: int | None = None
    tmdb_id: int | None = None
    director: str | None = None
    cast: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    @property
    def imdb_url(self) -> str | None:
        """Return the IMDb page address, when the IMDb id is known."""
        return f"https://www.imdb.com/title/tt{self.imdb_id:07d}/" if self.imdb_id else None


def _optional_int(value) -> int | None:
    return None if pd.isna(value) else int(value)


class Catalog:
    """Movies of one dataset, indexed by movie id."""

    def __init__(self, movies: pd.DataFrame, name: str = "catalog"):
        missing = [column for column in CATALOG_COLUMNS if column not in movies.columns]
        if missing:
            raise ValueError(f"catalog frame lacks columns {missing}; build it with recengine.movielens.load_dataset")
        self.name = name
        self.movies = movies

    def __len__(self) -> int:
        return len(self.movies)

    def __contains__(self, movie_id: object) -> bool:
        try:
            return int(movie_id) in self.movies.index  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False

    def __iter__(self) -> Iterator[Movie]:
        for movie_id in self.movies.index:
            yield self.movie(movie_id)

    @property
    def movie_ids(self) -> pd.Index:
        return self.movies.index

    def movie(self, movie_id: int) -> Movie:
        """Return one movie, raising :class:`UnknownMovieError` for an id the catalog lacks."""
        try:
            row = self.movies.loc[int(movie_id)]
        except (KeyError, TypeError, ValueError):
            raise UnknownMovieError(f"movie id {movie_id!r} is not in the {self.name} catalog") from None
        mean = row["rating_mean"]
        return Movie(
            movie_id=int(movie_id),
            title=row["title"],
            display_title=row["display_title"],
            year=_optional_int(row["year"]),
            genres=tuple(row["genres"]),
            alt_titles=tuple(row["alt_titles"]),
            rating_count=int(row["rating_count"]),
            rating_mean=None if pd.isna(mean) else float(mean),
            tags=tuple(row["tags"]),
            imdb_id=_optional_int(row["imdb_id"]),
            tmdb_id=_optional_int(row["tmdb_id"]),
            director=row["director"] if isinstance(row["director"], str) else None,
            cast=tuple(row["cast"]),
            keywords=tuple(row["keywords"]),
        )

    def movies_by_id(self, movie_ids: Iterable[int]) -> list[Movie]:
        """Return the movies for ``movie_ids`` in the same order."""
        return [self.movie(movie_id) for movie_id in movie_ids]

    @property
    def genres(self) -> list[str]:
        """Return every genre used in the catalog, sorted."""
        return sorted({genre for genres in self.movies["genres"] for genre in genres})
