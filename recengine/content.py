"""Content-based similarity: "more like this movie", explained by what two movies share.

Each movie becomes a bag of features, one token per feature, prefixed by its kind so that a
keyword never collides with a name:

| kind | prefix | source | count |
|---|---|---|---|
| director | ``d:`` | ``Catalog.movies["director"]`` | 2 (counted twice) |
| cast | ``c:`` | the first three names of ``cast`` | 1 each |
| keyword | ``k:`` | ``keywords``, each word stemmed (Snowball, English) | 1 each |
| genre | ``g:`` | MovieLens genres | 0.5 each (see ``ContentConfig.genre_weight``) |
| tag | ``t:`` | MovieLens user tags, stemmed like keywords | 1 each |

Names are folded and their spaces removed, so "Tom Hanks" becomes ``c:tomhanks`` and stays
distinct from ``c:tomcruise``. Keyword and tag tokens carried by fewer than
``ContentConfig.min_term_movies`` movies are dropped. Such a term can never be shared, and it
would only lengthen its movie's vector. The count is taken after stemming, so "love" on one
movie and "loving" on another form one shared term.

Similarity is the cosine of the count vectors. No movies x movies matrix is ever held. The
rows are L2-normalised and multiplied against the whole catalog one block of rows at a time.
Only the top ``ContentConfig.neighbours`` of each row are kept, so memory is O(n·k) plus one
block. Ties are broken by rating count (most rated first), then by movie id, so results are
deterministic. A request that needs more candidates than the stored neighbours (many movies
excluded, a genre filter) computes the seed's full similarity row on demand.

Two rankings are offered. *Plain* returns the most similar movies by cosine. *Quality*
re-ranks the ``quality_pool`` most similar by IMDB weighted rating, as the original design did:
``WR = v/(v+m)·R + m/(v+m)·C``, with v the rating count, R the mean rating, m the 75th
percentile of rating counts and C the mean rating over the catalog. Before re-ranking it drops
candidates whose rating count is below ``quality_min_votes_quantile`` of the pool.
The weighted rating is the popularity chart's (``PopularityModel.weighted_ratings``).
Quality is the default because it scored higher in ``benchmarks/bench_content.py``.

Public interface, used by the hybrid model and the evaluation harness:

- :meth:`ContentModel.fit` (from a :class:`~recengine.catalog.Catalog`), :meth:`ContentModel.save`,
  :meth:`ContentModel.load`, :func:`load_content_artefact`;
- :meth:`ContentModel.similar` and :meth:`ContentModel.recommend` (the shared
  :class:`~recengine.recommender.Recommender` interface);
- :meth:`ContentModel.neighbours` (stored top-k ids and cosines of one movie),
  :meth:`ContentModel.similarities` (one movie's cosine to every movie, aligned with
  :attr:`ContentModel.movie_ids`) and :meth:`ContentModel.shared_features`.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recengine.catalog import Catalog
from recengine.errors import ArtefactError, UnknownMovieError
from recengine.popularity import PopularityModel
from recengine.recommender import RatedMovie, Recommendations, Request, Suggestion
from recengine.text import fold, words

__all__ = ["ContentConfig", "ContentModel", "SharedFeatures", "build_content_artefact", "load_content_artefact"]

log = logging.getLogger(__name__)

SOURCE = "content"
FORMAT_VERSION = 1

_NEIGHBOURS_FILE = "content_neighbours.npz"
_FEATURES_FILE = "content_features.npz"
_META_FILE = "content_meta.json"

# Cosines are rounded to this many steps per unit before ranking, so that movies with identical
# features tie exactly (sparse products may differ in the last bits) and the tie-break decides.
_QUANTUM = 1_000_000

# Columns carried by at least this share of movies are multiplied as dense arrays (BLAS) and the
# rest as sparse ones. A dense column costs n² per product and a sparse one about its movie count
# squared (with more overhead per step), so only columns as common as a big genre go dense.
_DENSE_COLUMN_SHARE = 0.05
_MAX_DENSE_COLUMNS = 512


@dataclass(frozen=True)
class ContentConfig:
    """Settings of the content model; the defaults are the ones the benchmark supports."""

    neighbours: int = 50
    """Neighbours stored per movie (k); memory is about 8·k bytes per movie."""
    director_weight: int = 2
    """Count given to the director token, so a shared director adds 4 to the dot product and an actor 1."""
    genre_weight: float = 0.5
    """Count given to each genre token.

    At 1, movies known only by their genres crowd out movies that share a director or cast, because
    a short vector has a high cosine with anything in its genres. On ml-latest-small, 0.5 raised the
    benchmark's hit rate@10 from 0.22 to 0.27 (plain) and from 0.27 to 0.33 (quality ranking)."""
    cast_size: int = 3
    """Leading actors used per movie."""
    min_term_movies: int = 2
    """Keywords and tags (after stemming) carried by fewer movies than this are dropped."""
    use_keywords: bool = True
    use_tags: bool = True
    max_tags: int | None = None
    """Tags used per movie, most applied first; None uses all of them.

    Capping at 10 lowered the benchmark's hit rate slightly and gave Pulp Fiction (173 distinct tags
    in ml-latest-small) visibly worse neighbours, because ties in tag counts are cut arbitrarily."""
    quality_rerank: bool = True
    """Whether :meth:`ContentModel.similar` and seeded requests re-rank by weighted rating by default."""
    quality_pool: int = 30
    """How many of the most similar movies the quality ranking re-orders."""
    quality_min_votes_quantile: float | None = 0.6
    """Within the pool, candidates with fewer ratings than this quantile of the pool's counts are dropped
    (re-admitted by weighted rating only when too few remain); None keeps every candidate."""
    liked_rating: float = 4.0
    """A rating at or above this marks a liked movie, used as a seed when a request has no seed movie."""
    history_seeds: int = 10
    """How many of the user's most recent liked movies seed a request without a seed movie."""
    block_entries: int = 4_000_000
    """Similarity cells computed at once (rows per block = block_entries // movies); bounds build memory."""

    def __post_init__(self) -> None:
        if not self.genre_weight > 0:
            raise ValueError(f"ContentConfig.genre_weight must be positive, got {self.genre_weight!r}.")
        positive = ("neighbours", "director_weight", "cast_size", "min_term_movies", "quality_pool",
                    "history_seeds", "block_entries", "max_tags")
        for name in positive:
            value = getattr(self, name)
            if name == "max_tags" and value is None:
                continue
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ContentConfig.{name} must be a positive integer, got {value!r}.")
        quantile = self.quality_min_votes_quantile
        if quantile is not None and not 0.0 <= quantile <= 1.0:
            raise ValueError(f"ContentConfig.quality_min_votes_quantile must be between 0 and 1 or None, got {quantile!r}.")
        if not 0.5 <= self.liked_rating <= 5.0:
            raise ValueError(f"ContentConfig.liked_rating must be on the 0.5–5 scale, got {self.liked_rating!r}.")

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as plain values (saved with the model, part of the build fingerprint)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ContentConfig":
        """Return a config from saved values, ignoring keys this version does not know."""
        known = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


@dataclass(frozen=True)
class SharedFeatures:
    """Features a candidate shares with a seed movie, as display names."""

    director: str | None = None
    cast: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    genres: tuple[str, ...] = ()

    def as_details(self) -> dict[str, Any]:
        """Return the structured form used in ``Suggestion.details``."""
        return {
            "same_director": self.director,
            "shared_cast": list(self.cast),
            "shared_keywords": list(self.keywords),
            "shared_tags": list(self.tags),
            "shared_genres": list(self.genres),
        }


# --------------------------------------------------------------------------------------------
# Features


def _name_token(name: str) -> str:
    return "".join(words(name))


class _Tokeniser:
    """Turns catalog values into tokens, caching each distinct name and phrase (stemming is slow)."""

    def __init__(self, config: ContentConfig):
        self._config = config
        # nltk takes seconds to import, so only building features pays for it, not every CLI start.
        from nltk.stem.snowball import SnowballStemmer

        self._stemmer = SnowballStemmer("english")
        self._names: dict[str, str] = {}
        self._terms: dict[str, str] = {}

    def name(self, text: str) -> str:
        token = self._names.get(text)
        if token is None:
            token = self._names[text] = _name_token(text)
        return token

    def term(self, text: str) -> str:
        token = self._terms.get(text)
        if token is None:
            token = self._terms[text] = "_".join(self._stemmer.stem(word) for word in words(text))
        return token

    def movie(self, director, cast, genres, keywords, tags) -> list[tuple[str, str, float]]:
        """Return ``(token, display label, count)`` for one movie, before rare terms are dropped."""
        config = self._config
        tokens: list[tuple[str, str, float]] = []
        if isinstance(director, str) and self.name(director):
            tokens.append(("d:" + self.name(director), director, config.director_weight))
        seen: set[str] = set()

        def add(token: str, label: str, count: float = 1.0) -> None:
            if token[2:] and token not in seen:
                seen.add(token)
                tokens.append((token, label, count))

        for actor in tuple(cast)[: config.cast_size]:
            add("c:" + self.name(actor), actor)
        for genre in genres:
            add("g:" + self.name(genre), genre, config.genre_weight)
        if config.use_keywords:
            for keyword in keywords:
                add("k:" + self.term(keyword), fold(keyword).strip())
        if config.use_tags:
            for tag in tuple(tags)[: config.max_tags]:
                add("t:" + self.term(tag), fold(tag).strip())
        return tokens


def _feature_matrix(catalog: Catalog, config: ContentConfig) -> tuple[sp.csr_matrix, list[str], list[str]]:
    """Build the movies x features count matrix, its column tokens and their display labels."""
    tokeniser = _Tokeniser(config)
    movies = catalog.movies
    per_movie = [
        tokeniser.movie(*values)
        for values in zip(movies["director"], movies["cast"], movies["genres"], movies["keywords"], movies["tags"])
    ]

    # Movie frequency of each term, counted after stemming so that variants count as one term.
    term_movies = Counter(token for tokens in per_movie for token, _, _ in tokens if token[0] in "kt")
    kept_terms = {token for token, count in term_movies.items() if count >= config.min_term_movies}

    labels_seen: dict[str, Counter] = defaultdict(Counter)
    rows, columns, counts = [], [], []
    vocabulary: dict[str, int] = {}
    for position, tokens in enumerate(per_movie):
        for token, label, count in tokens:
            if token[0] in "kt" and token not in kept_terms:
                continue
            labels_seen[token][label] += 1
            rows.append(position)
            columns.append(vocabulary.setdefault(token, len(vocabulary)))
            counts.append(count)

    # Columns in sorted token order, so the saved vocabulary does not depend on catalog order.
    tokens_sorted = sorted(vocabulary)
    remap = np.empty(len(vocabulary), dtype=np.int64)
    for new, token in enumerate(tokens_sorted):
        remap[vocabulary[token]] = new
    matrix = sp.csr_matrix(
        (np.asarray(counts, dtype=np.float32), (np.asarray(rows, dtype=np.int64), remap[np.asarray(columns, dtype=np.int64)])),
        shape=(len(movies), len(tokens_sorted)),
    )
    matrix.sum_duplicates()
    matrix.sort_indices()
    # The label most often written for a token; ties go to the alphabetically first spelling.
    labels = [min(labels_seen[token].items(), key=lambda item: (-item[1], item[0]))[0] for token in tokens_sorted]
    log.info(
        "Content features: %d movies, %d tokens (%d keywords and tags dropped as carried by one movie)",
        len(movies), len(tokens_sorted), len(term_movies) - len(kept_terms),
    )
    return matrix, tokens_sorted, labels


def _normalise_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ matrix, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Neighbours


def _tie_rank(rating_count: np.ndarray, movie_ids: np.ndarray) -> np.ndarray:
    """Return each movie's tie-break strength: n-1 for the most rated movie, 0 for the least (then by id)."""
    order = np.lexsort((movie_ids, -rating_count))
    strength = np.empty(len(order), dtype=np.int64)
    strength[order] = np.arange(len(order) - 1, -1, -1)
    return strength


class _SimilarityProduct:
    """Computes blocks of the cosine matrix, dense columns with BLAS and rare columns sparsely."""

    def __init__(self, normalised: sp.csr_matrix):
        frequency = np.bincount(normalised.indices, minlength=normalised.shape[1])
        threshold = max(2, int(_DENSE_COLUMN_SHARE * normalised.shape[0]))
        frequent = np.flatnonzero(frequency >= threshold)
        frequent = frequent[np.argsort(-frequency[frequent], kind="stable")][:_MAX_DENSE_COLUMNS]
        rare = np.setdiff1d(np.arange(normalised.shape[1]), frequent)
        self._dense = normalised[:, frequent].toarray().astype(np.float64)
        self._sparse = normalised[:, rare].tocsr()
        self._sparse_t = self._sparse.T.tocsr()

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Return the cosines of movies ``start:stop`` against every movie, shape (stop-start, n)."""
        block = self._dense[start:stop] @ self._dense.T
        # A sparse product has no repeated (row, column) pairs, so a fancy-indexed add is exact.
        rare = (self._sparse[start:stop] @ self._sparse_t).tocoo()
        block[rare.row, rare.col] += rare.data
        return block


def _quantise(similarities: np.ndarray) -> np.ndarray:
    return np.rint(similarities * _QUANTUM).astype(np.int64)


def _top_neighbours(normalised: sp.csr_matrix, strength: np.ndarray, k: int, block_entries: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (positions, cosines), each (n, k), best first; missing neighbours are -1 and 0.

    Only movies with a positive cosine count as neighbours, and a movie is never its own.
    """
    count = normalised.shape[0]
    k = min(k, max(count - 1, 0))
    positions = np.full((count, k), -1, dtype=np.int32)
    cosines = np.zeros((count, k), dtype=np.float32)
    if k == 0:
        return positions, cosines
    product = _SimilarityProduct(normalised)
    # Ranking key per cell: the rounded cosine (an integer up to _QUANTUM) plus the tie-break
    # strength scaled into [0, 1). Both parts stay exact in a float64 for any realistic catalog.
    tie_fraction = strength / count
    rows_per_block = max(1, block_entries // count)
    for start in range(0, count, rows_per_block):
        stop = min(count, start + rows_per_block)
        keys = product.rows(start, stop)  # (block, n) cosines, turned into keys in place
        keys *= _QUANTUM
        np.rint(keys, out=keys)
        keys[np.arange(stop - start), np.arange(start, stop)] = -1.0
        keys += tie_fraction
        top = np.argpartition(keys, count - k, axis=1)[:, count - k:]
        top_keys = np.take_along_axis(keys, top, axis=1)
        order = np.argsort(-top_keys, axis=1)
        top = np.take_along_axis(top, order, axis=1)
        quantised = np.floor(np.take_along_axis(top_keys, order, axis=1))
        found = quantised > 0
        positions[start:stop] = np.where(found, top, -1)
        cosines[start:stop] = np.where(found, quantised / _QUANTUM, 0.0)
    return positions, cosines


# --------------------------------------------------------------------------------------------
# Model


def _stars(value: float) -> str:
    return f"{value:g} star" + ("" if value == 1 else "s")


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


class ContentModel:
    """Cosine similarity of movie feature bags, with the top-k neighbours of every movie kept.

    Build it with :meth:`fit` or :meth:`load`; the constructor takes the fitted arrays.
    """

    name = SOURCE

    def __init__(
        self,
        config: ContentConfig,
        movie_ids: np.ndarray,
        titles: Sequence[str],
        years: np.ndarray,
        rating_count: np.ndarray,
        weighted_rating: np.ndarray,
        features: sp.csr_matrix,
        tokens: Sequence[str],
        labels: Sequence[str],
        neighbour_positions: np.ndarray,
        neighbour_cosines: np.ndarray,
    ):
        self.config = config
        self._movie_ids = np.asarray(movie_ids, dtype=np.int64)
        self._titles = list(titles)
        self._years = np.asarray(years, dtype=np.int64)
        self._rating_count = np.asarray(rating_count, dtype=np.int64)
        self._weighted_rating = np.asarray(weighted_rating, dtype=np.float64)
        self._features = features.tocsr()
        self._tokens = list(tokens)
        self._labels = list(labels)
        self._neighbour_positions = neighbour_positions
        self._neighbour_cosines = neighbour_cosines
        self._position = {int(movie_id): position for position, movie_id in enumerate(self._movie_ids)}
        self._normalised = _normalise_rows(self._features)
        self._normalised_t = self._normalised.T.tocsr()
        self._strength = _tie_rank(self._rating_count, self._movie_ids)
        self._genre_column = {token[2:]: column for column, token in enumerate(self._tokens) if token.startswith("g:")}
        self._column_masks: dict[int, np.ndarray] = {}
        self._column_movies = np.bincount(self._features.indices, minlength=len(self._tokens))

    # ---- construction -----------------------------------------------------------------------

    @classmethod
    def fit(cls, catalog: Catalog, config: ContentConfig | None = None) -> "ContentModel":
        """Build features and top-k neighbours for every movie of ``catalog``."""
        config = config or ContentConfig()
        started = time.perf_counter()
        movies = catalog.movies
        features, tokens, labels = _feature_matrix(catalog, config)
        movie_ids = movies.index.to_numpy(dtype=np.int64)
        rating_count = movies["rating_count"].to_numpy(dtype=np.int64)
        strength = _tie_rank(rating_count, movie_ids)
        positions, cosines = _top_neighbours(_normalise_rows(features), strength, config.neighbours, config.block_entries)
        years = movies["year"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
        # The chart's overall weighted rating, so "quality" means the same here as in the charts.
        # NOTE: it is frozen at fit time, so ratings given in conversation reach it only on a rebuild.
        weighted_rating = PopularityModel(catalog).weighted_ratings().reindex(movies.index).to_numpy(dtype=np.float64)
        model = cls(
            config=config, movie_ids=movie_ids, titles=movies["display_title"].tolist(), years=years,
            rating_count=rating_count, weighted_rating=weighted_rating, features=features,
            tokens=tokens, labels=labels, neighbour_positions=positions, neighbour_cosines=cosines,
        )
        log.info("Content model fitted on %d movies in %.1f s", len(movie_ids), time.perf_counter() - started)
        return model

    def save(self, folder: Path | str) -> None:
        """Write the neighbours, features and what explanations need into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            folder / _NEIGHBOURS_FILE,
            movie_ids=self._movie_ids, years=self._years, rating_count=self._rating_count,
            weighted_rating=self._weighted_rating, positions=self._neighbour_positions, cosines=self._neighbour_cosines,
        )
        sp.save_npz(folder / _FEATURES_FILE, self._features, compressed=True)
        (folder / _META_FILE).write_text(json.dumps({
            "format": FORMAT_VERSION, "config": self.config.as_dict(), "tokens": self._tokens,
            "labels": self._labels, "titles": self._titles,
        }))

    @classmethod
    def load(cls, folder: Path | str) -> "ContentModel":
        """Read a model written by :meth:`save`; raises :class:`ArtefactError` when it is missing or unreadable."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / _META_FILE).read_text())
            arrays = np.load(folder / _NEIGHBOURS_FILE)
            features = sp.load_npz(folder / _FEATURES_FILE)
        except FileNotFoundError as error:
            raise ArtefactError(f"{folder} has no content model ({error.filename} is missing): run `python -m recengine build --only content`.") from error
        except (OSError, ValueError, KeyError) as error:
            raise ArtefactError(f"{folder}: the content model is unreadable ({error}); run `python -m recengine build --only content --force`.") from error
        if meta.get("format") != FORMAT_VERSION:
            raise ArtefactError(f"{folder}: content model format {meta.get('format')!r} is not {FORMAT_VERSION}; run `python -m recengine build --only content --force`.")
        return cls(
            config=ContentConfig.from_dict(meta["config"]), movie_ids=arrays["movie_ids"], titles=meta["titles"],
            years=arrays["years"], rating_count=arrays["rating_count"], weighted_rating=arrays["weighted_rating"],
            features=features, tokens=meta["tokens"], labels=meta["labels"],
            neighbour_positions=arrays["positions"], neighbour_cosines=arrays["cosines"],
        )

    # ---- lookups ----------------------------------------------------------------------------

    @property
    def movie_ids(self) -> np.ndarray:
        """Catalog movie ids in model order; :meth:`similarities` is aligned with it."""
        return self._movie_ids

    def __contains__(self, movie_id: object) -> bool:
        try:
            return int(movie_id) in self._position  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False

    def _position_of(self, movie_id: int) -> int:
        try:
            return self._position[int(movie_id)]
        except (KeyError, TypeError, ValueError):
            raise UnknownMovieError(f"movie id {movie_id!r} is not in the content model's catalog ({len(self._movie_ids):,} movies).") from None

    def title(self, movie_id: int) -> str:
        """Return the display title stored for ``movie_id``."""
        return self._titles[self._position_of(movie_id)]

    def has_features(self, movie_id: int) -> bool:
        """Return whether the movie has any feature (genre, tag or metadata) to compare."""
        position = self._position_of(movie_id)
        return self._features.indptr[position + 1] > self._features.indptr[position]

    def neighbours(self, movie_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the stored top-k neighbours of ``movie_id``: (movie ids int64, cosines float32), best first.

        Only neighbours with a positive cosine are listed, so there may be fewer than ``config.neighbours``.
        """
        position = self._position_of(movie_id)
        stored = self._neighbour_positions[position]
        found = stored >= 0
        return self._movie_ids[stored[found]], self._neighbour_cosines[position][found].copy()

    def similarities(self, movie_id: int) -> np.ndarray:
        """Return the cosine of ``movie_id`` to every movie (float64, aligned with :attr:`movie_ids`; its own is 0)."""
        position = self._position_of(movie_id)
        row = (self._normalised[position] @ self._normalised_t).toarray().ravel()
        row[position] = 0.0
        return row

    def weighted_rating(self, movie_id: int) -> float:
        """Return the IMDB weighted rating used by the quality ranking."""
        return float(self._weighted_rating[self._position_of(movie_id)])

    def shared_features(self, seed_id: int, other_id: int) -> SharedFeatures:
        """Return what ``other_id`` shares with ``seed_id`` (display names, at most five per kind)."""
        seed, other = self._position_of(seed_id), self._position_of(other_id)
        indptr, indices = self._features.indptr, self._features.indices
        common = np.intersect1d(indices[indptr[seed]:indptr[seed + 1]], indices[indptr[other]:indptr[other + 1]], assume_unique=True)
        by_kind: dict[str, list[str]] = defaultdict(list)
        # Rarest first inside a kind, because a rare keyword or tag is more specific than a common one.
        frequency = self._column_movies
        for column in sorted(common.tolist(), key=lambda column: (frequency[column], self._labels[column])):
            by_kind[self._tokens[column][0]].append(self._labels[column])
        directors = by_kind.get("d", [])
        return SharedFeatures(
            director=directors[0] if directors else None,
            cast=tuple(by_kind.get("c", [])[:5]),
            keywords=tuple(by_kind.get("k", [])[:5]),
            tags=tuple(by_kind.get("t", [])[:5]),
            genres=tuple(sorted(by_kind.get("g", []))),
        )

    # ---- ranking ----------------------------------------------------------------------------

    def _allowed(self, blocked: Iterable[int], genre: str | None, year_from: int | None, year_to: int | None) -> np.ndarray:
        """Return a boolean mask over model positions of the movies a request may return."""
        allowed = np.ones(len(self._movie_ids), dtype=bool)
        blocked_positions = [self._position[int(movie_id)] for movie_id in blocked if int(movie_id) in self._position]
        allowed[blocked_positions] = False
        if genre is not None:
            column = self._genre_column.get(_name_token(genre))
            if column is None:
                return np.zeros_like(allowed)
            allowed &= self._movies_with_column(column)
        if year_from is not None:
            allowed &= self._years >= year_from
        if year_to is not None:
            allowed &= (self._years <= year_to) & (self._years >= 0)
        return allowed

    def _movies_with_column(self, column: int) -> np.ndarray:
        """Return a boolean mask over model positions of the movies that carry feature ``column``."""
        mask = self._column_masks.get(column)
        if mask is None:
            mask = np.zeros(len(self._movie_ids), dtype=bool)
            mask[self._features.tocoo().row[self._features.indices == column]] = True
            self._column_masks[column] = mask
        return mask

    def _ranked(self, position: int, allowed: np.ndarray, needed: int) -> tuple[np.ndarray, np.ndarray]:
        """Return up to ``needed`` allowed positions most similar to ``position``, with their cosines.

        Reads the stored neighbours. When they run out while more similar movies may exist (the stored
        list is full), the seed's full similarity row is computed instead.
        """
        stored = self._neighbour_positions[position]
        cosines = self._neighbour_cosines[position]
        valid = stored >= 0
        keep = valid & allowed[np.where(valid, stored, 0)]
        if keep.sum() >= needed or not valid.all():
            return stored[keep][:needed], cosines[keep][:needed].astype(np.float64)
        row = (self._normalised[position] @ self._normalised_t).toarray().ravel()
        quantised = _quantise(row)
        quantised[position] = 0
        candidates = np.flatnonzero((quantised > 0) & allowed)
        keys = quantised[candidates] * len(self._movie_ids) + self._strength[candidates]
        best = candidates[np.argsort(-keys)][:needed]
        return best, quantised[best] / _QUANTUM

    def _quality_order(self, positions: np.ndarray, cosines: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Re-rank a similarity pool by weighted rating; return (positions, cosines, weighted ratings), at most n."""
        if len(positions) == 0:
            return positions, cosines, np.zeros(0)
        weighted = self._weighted_rating[positions]
        order = np.lexsort((-self._strength[positions], -cosines, -weighted))
        quantile = self.config.quality_min_votes_quantile
        if quantile is not None:
            votes = self._rating_count[positions]
            qualified = votes >= np.quantile(votes, quantile)
            # Qualified movies keep their weighted-rating order; others fill in only when too few qualify.
            chosen = order[qualified[order]][:n]
            if len(chosen) < n:
                extra = order[~qualified[order]][: n - len(chosen)]
                chosen = np.concatenate([chosen, extra])
                chosen = chosen[np.lexsort((-self._strength[positions][chosen], -cosines[chosen], -weighted[chosen]))]
            order = chosen
        order = order[:n]
        return positions[order], cosines[order], weighted[order]

    def similar(
        self,
        movie_id: int,
        n: int = 10,
        exclude: Iterable[int] = (),
        quality: bool | None = None,
        genre: str | None = None,
        year_from: int | None = None,
        year_to: int | None = None,
        explain: bool = True,
    ) -> Recommendations:
        """Return up to ``n`` movies like ``movie_id``, each with what it shares with it.

        ``quality`` chooses the ranking (None: ``config.quality_rerank``). Plain scores are cosines;
        quality scores are weighted ratings of the re-ranked pool. ``exclude`` ids, and the seed
        itself, never come back; ``genre`` and the year bounds filter the candidates. Raises
        :class:`UnknownMovieError` for an id the model lacks. A seed with no feature at all, or
        filters nothing passes, give an empty list with ``fallback_reason`` saying why.

        ``explain=False`` leaves every reason empty and the details at the seed and the cosine, for
        callers that re-rank a large pool and keep a few: :meth:`explained` fills in those few.
        """
        position = self._position_of(movie_id)
        if n <= 0:
            return Recommendations(items=[], source=SOURCE)
        if not self.has_features(movie_id):
            return Recommendations(
                items=[], source=SOURCE,
                fallback_reason=f"{self._titles[position]} has no genres, tags, director, cast or keywords to compare with.",
            )
        use_quality = self.config.quality_rerank if quality is None else quality
        allowed = self._allowed(set(exclude) | {int(movie_id)}, genre, year_from, year_to)
        needed = max(n, self.config.quality_pool) if use_quality else n
        positions, cosines = self._ranked(position, allowed, needed)
        if use_quality:
            positions, cosines, scores = self._quality_order(positions, cosines, n)
        else:
            scores = cosines
        if explain:
            items = [
                self._suggestion(position, int(other), float(score), float(cosine), weighted=use_quality)
                for other, cosine, score in zip(positions, cosines, scores)
            ]
        else:
            seed_details = {"seed_movie_id": int(self._movie_ids[position]), "seed_title": self._titles[position]}
            items = [
                Suggestion(int(self._movie_ids[other]), float(score), "", SOURCE,
                           details={**seed_details, "similarity": round(float(cosine), 4)})
                for other, cosine, score in zip(positions, cosines, scores)
            ]
        fallback = None
        if not items:
            fallback = f"no movie similar to {self._titles[position]} matches the request's filters and exclusions."
        return Recommendations(items=items, source=SOURCE, fallback_reason=fallback)

    def explained(self, suggestion: Suggestion) -> Suggestion:
        """Return a plain-ranked suggestion from ``similar(..., explain=False)`` with its reason and shared features."""
        seed = self._position_of(suggestion.details["seed_movie_id"])
        other = self._position_of(suggestion.movie_id)
        return self._suggestion(seed, other, suggestion.score, float(suggestion.details["similarity"]), weighted=False)

    def _suggestion(self, seed: int, other: int, score: float, cosine: float, weighted: bool, rated: RatedMovie | None = None) -> Suggestion:
        seed_id, other_id = int(self._movie_ids[seed]), int(self._movie_ids[other])
        shared = self.shared_features(seed_id, other_id)
        details: dict[str, Any] = {
            "seed_movie_id": seed_id, "seed_title": self._titles[seed], "similarity": round(cosine, 4), **shared.as_details(),
        }
        if weighted:
            details["weighted_rating"] = round(float(self._weighted_rating[other]), 4)
        reason = self._reason(self._titles[seed], shared)
        if rated is not None:
            details["seed_rating"] = rated.rating
            reason = f"{reason}; you rated {self._titles[seed]} {_stars(rated.rating)}"
        return Suggestion(movie_id=other_id, score=score, reason=reason, source=SOURCE, details=details)

    @staticmethod
    def _reason(seed_title: str, shared: SharedFeatures) -> str:
        """Return one plain line naming what is shared, most specific first."""
        parts = []
        if shared.cast:
            parts.append(_join(shared.cast[:3]))
        if shared.keywords:
            parts.append(("the keyword " if len(shared.keywords) == 1 else "the keywords ") + ", ".join(shared.keywords[:3]))
        if shared.tags:
            parts.append(("the tag " if len(shared.tags) == 1 else "the tags ") + ", ".join(shared.tags[:3]))
        # Genres are named only when little else is shared, since most movies share one.
        if shared.genres and len(parts) < 2:
            parts.append(("the genre " if len(shared.genres) == 1 else "the genres ") + ", ".join(shared.genres))
        if shared.director:
            head = f"same director as {seed_title}: {shared.director}"
            return f"{head}; also shares {_join(parts)}" if parts else head
        if parts:
            return f"shares {_join(parts)} with {seed_title}"
        return f"similar to {seed_title}"

    def recommend(self, request: Request) -> Recommendations:
        """Return content suggestions for a request (the shared :class:`Recommender` interface).

        With ``request.seed_movie_id``: :meth:`similar` for that seed, minus everything the user rated
        or excluded, honouring the genre and year filters. Without a seed: movies similar to the user's
        most recent liked ratings (``config.liked_rating`` and above, up to ``config.history_seeds``).
        Each candidate scores the sum over seeds of cosine x (rating - liked_rating + 1) and is
        explained by the seed that contributes most. With neither, an empty list and a ``fallback_reason``, so a
        caller can fall back to the popularity chart. An unknown seed id raises :class:`UnknownMovieError`.
        """
        blocked = request.blocked_ids()
        if request.seed_movie_id is not None:
            return self.similar(
                request.seed_movie_id, n=request.n, exclude=blocked, genre=request.genre,
                year_from=request.year_from, year_to=request.year_to,
            )
        return self._from_history(request, blocked)

    def _from_history(self, request: Request, blocked: frozenset[int]) -> Recommendations:
        liked = [item for item in request.history if item.rating >= self.config.liked_rating and item.movie_id in self._position]
        liked = liked[-self.config.history_seeds:]
        if not liked:
            return Recommendations(
                items=[], source=SOURCE,
                fallback_reason=f"no seed movie and no rating of {_stars(self.config.liked_rating)} or more to find similar movies from.",
            )
        if request.n <= 0:
            return Recommendations(items=[], source=SOURCE)
        allowed = self._allowed(blocked, request.genre, request.year_from, request.year_to)
        totals, best_seed = self._sum_over_seeds(liked, allowed, needed=None)
        if len(totals) < request.n:
            # The stored neighbours ran out (many rated or filtered movies): rank the full rows instead.
            totals, best_seed = self._sum_over_seeds(liked, allowed, needed=request.n)
        # Scores are rounded like cosines, so the tie-break decides between equal sums.
        scores = {other: round(total * _QUANTUM) / _QUANTUM for other, total in totals.items()}
        ranked = sorted(scores, key=lambda other: (-scores[other], -self._strength[other]))[: request.n]
        items = []
        for other in ranked:
            rated = liked[best_seed[other][1]]
            seed = self._position[int(rated.movie_id)]
            cosine = float(self._normalised[seed].multiply(self._normalised[other]).sum())
            items.append(self._suggestion(seed, other, scores[other], cosine, weighted=False, rated=rated))
        fallback = None if items else "none of the movies similar to your liked ratings matches the request's filters and exclusions."
        return Recommendations(items=items, source=SOURCE, fallback_reason=fallback)

    def _sum_over_seeds(
        self, liked: list[RatedMovie], allowed: np.ndarray, needed: int | None,
    ) -> tuple[dict[int, float], dict[int, tuple[float, int]]]:
        """Return each candidate's summed weighted cosine and its (largest contribution, seed index).

        With ``needed`` None, only the stored neighbours are read. Otherwise each seed contributes its
        ``needed`` most similar allowed movies, from the full row when the stored ones run out.
        """
        totals: dict[int, float] = defaultdict(float)
        best_seed: dict[int, tuple[float, int]] = {}
        for index, rated in enumerate(liked):
            weight = rated.rating - self.config.liked_rating + 1.0
            position = self._position[int(rated.movie_id)]
            if needed is None:
                stored = self._neighbour_positions[position]
                keep = (stored >= 0) & allowed[np.maximum(stored, 0)]
                positions, cosines = stored[keep], self._neighbour_cosines[position][keep]
            else:
                positions, cosines = self._ranked(position, allowed, needed)
            for other, cosine in zip(positions.tolist(), cosines.tolist()):
                contribution = weight * cosine
                totals[other] += contribution
                if other not in best_seed or contribution > best_seed[other][0]:
                    best_seed[other] = (contribution, index)
        return totals, best_seed


# --------------------------------------------------------------------------------------------
# Artefact


def build_content_artefact(context) -> dict[str, Any]:
    """Fit the content model on the build's dataset and save it into ``context.out_dir`` (a ``BUILDERS`` entry)."""
    model = ContentModel.fit(context.data.catalog)
    model.save(context.out_dir)
    positions = model._neighbour_positions
    return {
        "movies": len(model.movie_ids),
        "features": len(model._tokens),
        "neighbour_entries": int((positions >= 0).sum()),
    }


def load_content_artefact(dataset: str | None = None, settings=None) -> ContentModel:
    """Load the content model built by ``python -m recengine build`` for ``dataset``."""
    from recengine.build import artefact_dir

    return ContentModel.load(artefact_dir("content", dataset, settings))
