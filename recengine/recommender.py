"""The interface every recommender implements, and the result types the assistant shows.

Popularity, content, SVD, next-watch and the hybrid all take a :class:`Request` and return
:class:`Recommendations`. A request carries whatever a model might use (the user's ratings in
time order, a seed movie, filters); each model reads the parts it needs and says, through
``Recommendations.source`` and ``fallback_reason``, which model really answered, so the assistant
can tell the user "these are popular picks because you have not rated anything yet".

Contract (checked for every model by ``tests/contract.py``):

- at most ``request.n`` suggestions, no movie twice, every movie in the catalog;
- nothing the user rated and nothing in ``request.exclude`` comes back, nor the seed movie;
- scores never increase down the list;
- every suggestion has a non-empty ``reason`` and the ``source`` of the model that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

__all__ = ["RatedMovie", "Request", "Suggestion", "Recommendations", "Recommender"]


@dataclass(frozen=True)
class RatedMovie:
    """One rating of the requesting user."""

    movie_id: int
    rating: float
    """0.5–5 stars in half steps."""
    timestamp: float = 0.0
    """Seconds since 1970; orders the user's history for sequential models."""


@dataclass(frozen=True)
class Request:
    """What the user asked for, with everything known about them."""

    history: Sequence[RatedMovie] = ()
    """The user's ratings, oldest first (dataset and conversational ratings together)."""
    seed_movie_id: int | None = None
    """The movie the user wants more of ("something like X"), if any."""
    n: int = 10
    exclude: frozenset[int] = frozenset()
    """Movies never to return: already suggested, "seen it" or "not interested"."""
    user_id: int | None = None
    """The dataset user id, when the user comes from the dataset (lets a trained model use its own factors)."""
    genre: str | None = None
    year_from: int | None = None
    year_to: int | None = None

    @property
    def rated_ids(self) -> frozenset[int]:
        """Return the ids of every movie in the history."""
        return frozenset(item.movie_id for item in self.history)

    def blocked_ids(self) -> frozenset[int]:
        """Return every id that must not be suggested: rated, excluded and the seed."""
        blocked = self.rated_ids | self.exclude
        return blocked | {self.seed_movie_id} if self.seed_movie_id is not None else blocked


@dataclass(frozen=True)
class Suggestion:
    """One recommended movie and why it was chosen."""

    movie_id: int
    score: float
    """Model-specific ranking score: higher is better, comparable only within one list."""
    reason: str
    """One line for the user: "same director as Alien (Ridley Scott)", "because you rated Heat 5 stars"."""
    source: str
    """Model that produced it: popularity, content, svd, hybrid or nextwatch."""
    predicted_rating: float | None = None
    """Predicted stars on the 0.5–5 scale, for models that predict ratings."""
    details: dict[str, Any] = field(default_factory=dict)
    """Structured explanation, for example ``{"shared_cast": ["Tom Hanks"], "genres": ["Drama"]}``."""


@dataclass(frozen=True)
class Recommendations:
    """A ranked list and the model that produced it."""

    items: list[Suggestion]
    source: str
    """Model that answered; differs from the one asked for when a fallback was used."""
    fallback_reason: str | None = None
    """Why a fallback answered, for example "no ratings yet"; None when the requested model answered."""

    @property
    def movie_ids(self) -> list[int]:
        """Return the suggested ids in rank order."""
        return [item.movie_id for item in self.items]


@runtime_checkable
class Recommender(Protocol):
    """A model that turns a request into ranked suggestions."""

    name: str

    def recommend(self, request: Request) -> Recommendations:
        """Return at most ``request.n`` suggestions that obey the contract in this module's docstring."""
        ...
