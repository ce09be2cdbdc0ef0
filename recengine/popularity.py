"""Popularity charts ranked by IMDB's weighted rating.

The weighted rating of a movie is

    WR = v / (v + m) · R + m / (v + m) · C

where ``v`` is the movie's number of ratings, ``R`` its mean rating, ``C`` the mean of all
movies' mean ratings, and ``m`` the vote count at a percentile of the movies' vote counts
(the 75th by default). A movie needs at least ``m`` ratings to enter a chart, and the formula
pulls movies with few ratings towards ``C``, so a single 5-star rating never outranks a
well-rated movie with hundreds of votes.

A genre chart qualifies movies within the genre: ``m`` and ``C`` are computed over that genre's
movies only. Year filters are applied after qualification, so "the best 90s thrillers" are the
best thrillers by the thriller standard that happen to come from the 90s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recengine.catalog import Catalog
from recengine.recommender import Recommendations, Request, Suggestion

__all__ = ["PopularityConfig", "PopularityModel", "weighted_rating", "ChartStatistics"]


def weighted_rating(v, R, m: float, C: float):
    """Return IMDB's weighted rating ``v/(v+m)·R + m/(v+m)·C`` (scalars or arrays).

    >>> round(weighted_rating(100, 4.0, 20, 3.5), 4)
    3.9167
    """
    v = np.asarray(v, dtype=float)
    R = np.nan_to_num(np.asarray(R, dtype=float), nan=C)
    total = v + m
    with np.errstate(invalid="ignore", divide="ignore"):
        result = np.where(total > 0, v / np.where(total > 0, total, 1) * R + m / np.where(total > 0, total, 1) * C, C)
    return result if result.ndim else float(result)


@dataclass(frozen=True)
class PopularityConfig:
    """Settings of the weighted-rating charts."""

    percentile: float = 75.0
    """Percentile of the vote counts that gives ``m``, the minimum votes to qualify (0–100)."""
    min_votes: int = 1
    """Lower bound on ``m``, so a catalog where most movies have no ratings still needs one."""

    def __post_init__(self) -> None:
        if not 0 <= self.percentile <= 100:
            raise ValueError(f"percentile must be between 0 and 100, got {self.percentile}")
        if self.min_votes < 0:
            raise ValueError(f"min_votes must be 0 or more, got {self.min_votes}")


@dataclass(frozen=True)
class ChartStatistics:
    """The constants of one chart, kept so that the reason shown to users can be checked."""

    m: float
    C: float
    qualified: int
    """Number of movies with at least ``m`` ratings."""


class PopularityModel:
    """Weighted-rating charts over a catalog; also the fallback for users with no ratings."""

    name = "popularity"

    def __init__(self, catalog: Catalog, config: PopularityConfig | None = None):
        self.catalog = catalog
        self.config = config or PopularityConfig()
        movies = catalog.movies
        self._ids = movies.index.to_numpy(dtype=np.int64)
        self._votes = movies["rating_count"].to_numpy(dtype=float)
        self._means = movies["rating_mean"].to_numpy(dtype=float)
        self._years = movies["year"].astype("float64").to_numpy()
        self._genres = movies["genres"].to_numpy()
        self._overall = self._statistics(np.ones(len(movies), dtype=bool))
        self._overall_wr = weighted_rating(self._votes, self._means, self._overall.m, self._overall.C)

    def _statistics(self, mask: np.ndarray) -> ChartStatistics:
        rated = mask & (self._votes > 0)
        if not rated.any():
            return ChartStatistics(m=float(self.config.min_votes), C=0.0, qualified=0)
        m = max(float(np.percentile(self._votes[mask], self.config.percentile)), float(self.config.min_votes))
        C = float(np.mean(self._means[rated]))
        return ChartStatistics(m=m, C=C, qualified=int((self._votes[mask] >= m).sum()))

    def genre_mask(self, genre: str | None) -> np.ndarray:
        """Return a boolean mask of the catalog rows in ``genre`` (all rows for None)."""
        if genre is None:
            return np.ones(len(self._ids), dtype=bool)
        wanted = genre.casefold()
        return np.fromiter((any(g.casefold() == wanted for g in genres) for genres in self._genres), dtype=bool, count=len(self._ids))

    def statistics(self, genre: str | None = None) -> ChartStatistics:
        """Return ``m``, ``C`` and the number of qualified movies for the whole catalog or one genre."""
        return self._overall if genre is None else self._statistics(self.genre_mask(genre))

    def weighted_ratings(self) -> pd.Series:
        """Return the weighted rating of every catalog movie with the overall ``m`` and ``C``."""
        return pd.Series(self._overall_wr, index=pd.Index(self._ids, name="movie_id"), name="weighted_rating")

    def chart(
        self,
        genre: str | None = None,
        year_from: int | None = None,
        year_to: int | None = None,
        n: int = 10,
        exclude: frozenset[int] | set[int] = frozenset(),
    ) -> Recommendations:
        """Return the top ``n`` qualified movies by weighted rating, optionally one genre and a year range.

        An unknown genre gives an empty chart; years are inclusive at both ends.
        """
        in_genre = self.genre_mask(genre)
        stats = self._overall if genre is None else self._statistics(in_genre)
        scores = self._overall_wr if genre is None else weighted_rating(self._votes, self._means, stats.m, stats.C)
        keep = in_genre & (self._votes >= stats.m) & (self._votes > 0)
        if year_from is not None:
            keep &= self._years >= year_from
        if year_to is not None:
            keep &= self._years <= year_to
        if exclude:
            keep &= ~np.isin(self._ids, np.fromiter(exclude, dtype=np.int64, count=len(exclude)))
        rows = np.flatnonzero(keep)
        # Highest weighted rating first; more votes, then the smaller id, break ties.
        order = np.lexsort((self._ids[rows], -self._votes[rows], -scores[rows]))[:n]
        label = _chart_label(genre, year_from, year_to)
        items = [
            Suggestion(
                movie_id=int(self._ids[row]),
                score=float(scores[row]),
                reason=f"top-rated {label}: {self._means[row]:.1f}★ average from {int(self._votes[row])} ratings",
                source=self.name,
                details={"weighted_rating": float(scores[row]), "votes": int(self._votes[row]), "mean": float(self._means[row]),
                         "m": stats.m, "C": stats.C},
            )
            for row in rows[order]
        ]
        return Recommendations(items=items, source=self.name)

    def recommend(self, request: Request) -> Recommendations:
        """Return the chart for the request's genre and years, without the user's rated or excluded movies."""
        return self.chart(request.genre, request.year_from, request.year_to, request.n, request.blocked_ids())


def _chart_label(genre: str | None, year_from: int | None, year_to: int | None) -> str:
    """Describe a chart for reasons shown to users: "Romance of the 1990s", "movie before 1960"."""
    subject = genre or "movie"
    if year_from is None and year_to is None:
        return subject
    if year_from is not None and year_to is not None:
        if year_from == year_to:
            return f"{subject} of {year_from}"
        if year_from % 10 == 0 and year_to == year_from + 9:
            return f"{subject} of the {year_from}s"
        return f"{subject} of {year_from}–{year_to}"
    if year_from is not None:
        return f"{subject} since {year_from}"
    return f"{subject} before {year_to + 1}"
