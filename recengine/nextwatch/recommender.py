"""The next-watch recommender: "what should I watch next?" from the order in which a user rated movies.

:class:`NextWatchModel` serves a trained network with NumPy. A request's sequence is the dataset
user's ratings in time order (when ``request.user_id`` is a dataset user), extended by
``request.history`` (conversational ratings, oldest first), so a chat user gets next-watch
suggestions after their first rating. The network appends a mask token to the last ``max_len - 1``
movies and ranks every movie at that position; rated, excluded and seed movies are removed.
With no usable history the model returns the most-rated movies and sets ``fallback_reason``.

:func:`train_artefact` trains on a dataset (each user's last rating is the validation item for
early stopping) and writes the network, the dataset users' sequences and the popularity counts.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from recengine.catalog import Catalog
from recengine.errors import ArtefactError
from recengine.nextwatch.inference import NumpyNextWatch
from recengine.nextwatch.model import NextWatchConfig
from recengine.nextwatch.sequences import ItemVocabulary, merge_history, user_sequences
from recengine.recommender import Recommendations, Request, Suggestion

__all__ = ["NextWatchModel", "train_artefact", "build_artefact", "build_params", "HISTORIES_FILE"]

log = logging.getLogger(__name__)

HISTORIES_FILE = "histories.npz"

NAME = "nextwatch"


class NextWatchModel:
    """Next-watch suggestions from a saved network; implements :class:`recengine.recommender.Recommender`."""

    name = NAME

    def __init__(
        self,
        network: NumpyNextWatch,
        histories: Mapping[int, np.ndarray],
        popularity: np.ndarray,
        catalog: Catalog | None = None,
    ):
        self.network = network
        self.vocabulary = ItemVocabulary(network.movie_ids)
        self.histories = histories
        """Dataset users' movie ids in time order."""
        self.popularity = np.asarray(popularity, dtype=np.float64)
        """Number of dataset ratings of each vocabulary movie (column j = index j + 1)."""
        self.catalog = catalog
        self._in_catalog = self._catalog_mask(catalog)

    def _catalog_mask(self, catalog: Catalog | None) -> np.ndarray:
        if catalog is None:
            return np.ones(len(self.vocabulary), dtype=bool)
        return np.isin(self.vocabulary.movie_ids, catalog.movie_ids.to_numpy())

    @classmethod
    def load(cls, folder: Path, catalog: Catalog | None = None) -> "NextWatchModel":
        """Load an artefact written by :func:`train_artefact` (NumPy only, no TensorFlow)."""
        folder = Path(folder)
        network = NumpyNextWatch.load(folder)
        try:
            with np.load(folder / HISTORIES_FILE) as archive:
                users, offsets, items = archive["users"], archive["offsets"], archive["items"]
                popularity = archive["popularity"]
        except (OSError, KeyError, ValueError) as error:
            raise ArtefactError(
                f"{folder / HISTORIES_FILE} is missing or unreadable ({error}); run `python -m recengine build --only nextwatch --force`."
            ) from error
        histories = {int(user): items[offsets[i]:offsets[i + 1]] for i, user in enumerate(users)}
        return cls(network, histories, popularity, catalog)

    # --- the sequence -----------------------------------------------------------------------------

    def sequence_for(self, request: Request) -> list[int]:
        """Return the request's movie ids in watch order: dataset history, then ``request.history``."""
        base = self.histories.get(int(request.user_id), np.empty(0, dtype=np.int64)) if request.user_id is not None else ()
        return merge_history(base, (item.movie_id for item in request.history))

    def score_sequence(self, movie_ids: Sequence[int]) -> np.ndarray:
        """Return the network's scores for every vocabulary movie after ``movie_ids`` (unknown ids skipped)."""
        return self.network.score(self.vocabulary.encode(movie_ids))

    # --- recommending -----------------------------------------------------------------------------

    def recommend(self, request: Request) -> Recommendations:
        """Return up to ``request.n`` next-watch suggestions, or popular movies when there is no usable history."""
        sequence = self.sequence_for(request)
        known = [movie_id for movie_id in sequence if movie_id in self.vocabulary]
        allowed = self._allowed(request, sequence)
        if not known:
            return self._popular(request, allowed)
        scores = self.network.score(self.vocabulary.encode(known))  # (num_items,)
        probabilities = _softmax(scores)
        columns = _top_columns(np.where(allowed, scores, -np.inf), request.n)
        recent = known[-3:][::-1]
        reason = self._reason(recent)
        items = [
            Suggestion(
                movie_id=int(self.vocabulary.movie_ids[column]),
                score=float(scores[column]),
                reason=reason,
                source=NAME,
                details={"probability": float(probabilities[column]), "after": recent, "history_length": len(known)},
            )
            for column in columns
        ]
        log.debug("nextwatch: %d suggestions after %d movies (user %s)", len(items), len(known), request.user_id)
        return Recommendations(items=items, source=NAME)

    def _allowed(self, request: Request, sequence: Sequence[int]) -> np.ndarray:
        """Return a mask over vocabulary columns: in the catalog, not blocked, matching genre and years."""
        allowed = self._in_catalog.copy()
        blocked = request.blocked_ids() | set(sequence)
        columns = [self.vocabulary.index_of(movie_id) - 1 for movie_id in blocked if movie_id in self.vocabulary]
        allowed[columns] = False
        if self.catalog is not None and (request.genre or request.year_from is not None or request.year_to is not None):
            movies = self.catalog.movies.reindex(self.vocabulary.movie_ids)
            if request.genre:
                genre = request.genre.casefold()
                allowed &= np.asarray([
                    isinstance(genres, tuple) and any(name.casefold() == genre for name in genres) for genres in movies["genres"]
                ])
            years = movies["year"].astype("float64").to_numpy()
            if request.year_from is not None:
                allowed &= np.nan_to_num(years, nan=-1) >= request.year_from
            if request.year_to is not None:
                allowed &= np.nan_to_num(years, nan=np.inf) <= request.year_to
        return allowed

    def _popular(self, request: Request, allowed: np.ndarray) -> Recommendations:
        columns = _top_columns(np.where(allowed, self.popularity, -np.inf), request.n)
        items = [
            Suggestion(
                movie_id=int(self.vocabulary.movie_ids[column]),
                score=float(self.popularity[column]),
                reason=f"one of the most-rated movies ({int(self.popularity[column])} ratings)",
                source="popularity",
            )
            for column in columns
        ]
        return Recommendations(
            items=items, source="popularity",
            fallback_reason="no ratings yet, so next-watch has no sequence to continue: rate a few movies first",
        )

    def _reason(self, recent: Sequence[int]) -> str:
        names = [self._title(movie_id) for movie_id in recent]
        if len(names) == 1:
            listed = names[0]
        else:
            listed = ", ".join(names[:-1]) + " and " + names[-1]
        return f"often watched next by people who, like you, recently watched {listed}"

    def _title(self, movie_id: int) -> str:
        if self.catalog is not None and movie_id in self.catalog:
            return str(self.catalog.movies.at[int(movie_id), "display_title"])
        return f"movie {movie_id}"


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max())
    return shifted / shifted.sum()


def _top_columns(scores: np.ndarray, n: int) -> np.ndarray:
    """Return up to ``n`` columns with the highest finite scores, best first (ties: lower column first)."""
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    finite = np.flatnonzero(np.isfinite(scores))
    if finite.size > n:
        candidates = finite[np.argpartition(-scores[finite], n - 1)[:n]]
    else:
        candidates = finite
    return candidates[np.lexsort((candidates, -scores[candidates]))]


# --- training the artefact ----------------------------------------------------------------------

def build_params() -> dict[str, Any]:
    """Return the artefact's training parameters: the config defaults with a build time bound.

    ``RECENGINE_NEXTWATCH_MAX_EPOCHS`` and ``RECENGINE_NEXTWATCH_TRAIN_SECONDS`` override the epoch
    and wall-clock bounds, ``RECENGINE_NEXTWATCH_HIDDEN_SIZE`` the model width.
    """
    # NOTE: five minutes gives about 4 to 20 epochs on 2 cores, depending on other load, and the
    # network still improves after that. Raise the bound for better suggestions.
    config = NextWatchConfig(max_train_seconds=300.0)
    overrides = {
        "max_epochs": ("RECENGINE_NEXTWATCH_MAX_EPOCHS", int),
        "max_train_seconds": ("RECENGINE_NEXTWATCH_TRAIN_SECONDS", float),
        "hidden_size": ("RECENGINE_NEXTWATCH_HIDDEN_SIZE", int),
    }
    for field_name, (variable, kind) in overrides.items():
        value = os.environ.get(variable, "").strip()
        if not value:
            continue
        try:
            config = replace(config, **{field_name: kind(value)})
        except ValueError as error:
            raise ArtefactError(f"{variable}={value!r} is invalid ({error}); give a positive {kind.__name__}.") from error
    return asdict(config)


def train_artefact(ratings, catalog: Catalog, folder: Path, config: NextWatchConfig, progress: bool = True) -> dict[str, Any]:
    """Train on every user's ratings in time order and write the artefact into ``folder``; return its figures.

    Each user's last rating is held out as the validation item that early stopping watches. Users
    with a single rating have no transition to learn from, so they are left out of training, but
    their history is still saved. Every catalog movie gets an index, so any movie can be suggested.
    """
    from recengine.nextwatch.model import save_network, train_network

    sequences = user_sequences(ratings)
    vocabulary = ItemVocabulary(catalog.movie_ids)
    users = sorted(sequences)
    encoded = [vocabulary.encode(sequences[user]) for user in users]
    with_target = [i for i, items in enumerate(encoded) if items.size >= 2]
    if not with_target:
        raise ArtefactError("next-watch training needs users with at least two ratings; the ratings frame has none.")
    train = [encoded[i][:-1] for i in with_target]
    valid = [int(encoded[i][-1]) for i in with_target]
    started = time.perf_counter()
    trained = train_network(train, len(vocabulary), config, valid_targets=valid, progress=progress)
    seconds = time.perf_counter() - started

    folder = Path(folder)
    save_network(trained.model, vocabulary.movie_ids, folder, extra={
        "trained_epochs": trained.epochs, "best_epoch": trained.best_epoch, "train_seconds": round(seconds, 1),
        "stopped_because": trained.stopped_because,
        "valid": asdict(trained.best_valid) if trained.best_valid else None,
    })
    popularity = np.zeros(len(vocabulary), dtype=np.float64)
    for items in encoded:
        np.add.at(popularity, items.astype(np.int64) - 1, 1.0)
    offsets = np.concatenate([[0], np.cumsum([sequences[user].size for user in users])]).astype(np.int64)
    items = np.concatenate([sequences[user] for user in users]).astype(np.int64) if users else np.empty(0, dtype=np.int64)
    np.savez(folder / HISTORIES_FILE, users=np.asarray(users, dtype=np.int64), offsets=offsets, items=items, popularity=popularity)
    figures = {
        "users": len(users), "items": len(vocabulary), "epochs": trained.epochs, "best_epoch": trained.best_epoch,
        "train_seconds": round(seconds, 1), "stopped_because": trained.stopped_because,
        "valid_ndcg10": trained.best_valid.ndcg if trained.best_valid else None,
        "valid_hr10": trained.best_valid.hr if trained.best_valid else None,
    }
    (folder / "training.json").write_text(json.dumps({"figures": figures, "history": trained.history}, indent=2))
    return figures


def build_artefact(context) -> dict[str, Any]:
    """Train the ``nextwatch`` artefact for :mod:`recengine.build` on the context's dataset."""
    import sys

    config = replace(NextWatchConfig(**build_params()), seed=context.seed)
    data = context.data
    return train_artefact(data.ratings, data.catalog, context.out_dir, config, progress=sys.stderr.isatty())
