"""The hybrid recommender: content similarity for "more like this", SVD for "what you will like".

Four cases, decided per request. ``Recommendations.source`` and ``fallback_reason`` name the
model that produced the list and why:

1. A seed movie and a user with ratings (the original design's hybrid): the ``seed_pool`` movies
   most similar in content to the seed are re-ranked for the user by
   :class:`~recengine.svd.SVDModel`, folded in from the request's ratings when needed. The
   design ordered them by predicted rating; by default the SVD ranking score orders them, which
   scored higher on validation data (``HybridConfig.seed_order``). Reason: what the movie shares
   with the seed, and the predicted stars.
2. A seed movie and no ratings: the same pool ranked by what people who liked the seed go on to
   watch and rate. That is the SVD ranking model's score for a user folded in from one 5-star
   rating of the seed, a popularity prior among the seed's audience. Reason: "popular with people
   who liked <seed>".
3. No seed, a user with ratings: candidates are the user's best SVD ranking scores
   (``candidate_pool``), blended with their content affinity to the user's liked movies
   (``content_weight``, chosen on validation data). Reason: the rated
   movie that contributes most, by content (the liked movie it is most similar to) or, failing
   that, through the SVD fold-in.
4. No seed and no ratings: the popularity chart, with ``fallback_reason`` "no ratings yet".

Rated movies, the request's exclusions ("seen", "not interested") and the seed never come back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from recengine.catalog import Catalog
from recengine.popularity import PopularityModel
from recengine.recommender import RatedMovie, Recommendations, Request, Suggestion
from recengine.svd import SVDModel, UserFactors

if TYPE_CHECKING:
    from recengine.content import ContentModel

__all__ = ["HybridConfig", "HybridModel"]

log = logging.getLogger(__name__)

SOURCE = "hybrid"
NO_RATINGS = "no ratings yet"


@dataclass(frozen=True)
class HybridConfig:
    """Settings of :class:`HybridModel`."""

    seed_pool: int = 40
    """Content neighbours of the seed that are re-ranked (the original design used 25-50)."""
    candidate_pool: int = 200
    """Best SVD candidates considered for a personal list without a seed."""
    content_weight: float = 0.25
    """Weight of content affinity against the SVD score (both standardised over the pool) in personal lists.

    0 ranks by SVD alone. ``python -m recengine evaluate --tune-hybrid 0,0.1,0.25,0.5,1`` scores the
    weights on a validation cut of ml-latest-small's training ratings. There NDCG@10 was 0.110,
    0.114, 0.118, 0.112 and 0.093 (593 users), so the default is 0.25."""
    liked_rating: float = 4.0
    """Ratings at or above this mark movies the user liked (content affinity, reasons)."""
    history_seeds: int = 20
    """Most recent liked movies whose content neighbours count towards affinity."""
    seed_order: str = "ranking"
    """Order of a seed's content pool for a user with ratings: ``ranking`` (SVD ranking score) or ``predicted`` (stars).

    The original design re-ranked by predicted rating. ``python -m recengine evaluate --tune-seeded``
    measured NDCG@10 0.028 for the ranking score against 0.015 for predicted stars (0.021 for
    content's own weighted-rating order), with each validation user's latest liked movie as the
    seed, on a validation cut of ml-latest-small's training ratings."""
    admirer_rating: float = 5.0
    """Rating of the seed given to the stand-in user for "people who liked <seed>" (seed, no ratings)."""

    def __post_init__(self) -> None:
        if self.seed_pool < 1 or self.candidate_pool < 1 or self.history_seeds < 1:
            raise ValueError("HybridConfig seed_pool, candidate_pool and history_seeds must be at least 1")
        if self.seed_order not in ("ranking", "predicted"):
            raise ValueError(f"HybridConfig.seed_order must be 'ranking' or 'predicted', got {self.seed_order!r}")
        if self.content_weight < 0:
            raise ValueError(f"HybridConfig.content_weight must not be negative, got {self.content_weight}")


def _stars(rating: float) -> str:
    return f"{rating:g} star" + ("" if rating == 1 else "s")


def _standardised(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)


class HybridModel:
    """Content neighbours re-ranked by SVD, SVD lists explained by content, popularity for newcomers.

    ``content`` may be None when its artefact is not built. Seeded requests then fall back to the
    personal SVD list, and ``fallback_reason`` gives the reason.
    """

    name = SOURCE

    def __init__(self, catalog: Catalog, svd: SVDModel, content: "ContentModel | None" = None,
                 popularity: PopularityModel | None = None, config: HybridConfig = HybridConfig()):
        self.catalog = catalog
        self.svd = svd
        self.content = content
        self.popularity = popularity or PopularityModel(catalog)
        self.config = config

    # ------------------------------------------------------------------ entry point

    def recommend(self, request: Request) -> Recommendations:
        """Return up to ``request.n`` suggestions for the four cases in the module docstring."""
        if request.n <= 0:
            return Recommendations(items=[], source=SOURCE)
        with self.svd.request_threads():
            return self._recommend(request)

    def _recommend(self, request: Request) -> Recommendations:
        user = self.svd.user_for(request)
        if request.seed_movie_id is not None:
            return self._seeded(request, user)
        if user is not None:
            return self._personal(request, user)
        if request.history:
            return self._from_content(request)
        return self._without_ratings(request)

    # ------------------------------------------------------------------ seeded

    def _seeded(self, request: Request, user: UserFactors | None) -> Recommendations:
        seed = int(request.seed_movie_id)
        seed_title = self.catalog.movie(seed).display_title
        pool = self._seed_pool(request)
        if pool is None or not pool.items:
            if pool is not None:
                why = pool.fallback_reason
            elif self.content is None:
                why = "the content model is not available"
            else:
                why = "the content model has no features for it"
            if user is not None:
                result = self._personal(request, user)
                return Recommendations(result.items, result.source, f"no content neighbours of {seed_title} ({why}); showing your personal list")
            return self._without_ratings(request, f"no content neighbours of {seed_title} ({why})")

        ids = pool.movie_ids
        if user is not None:
            predicted = self.svd.predict_for(user, ids)
            order_scores = predicted if self.config.seed_order == "predicted" else self._pool_scores(user, ids)
            return self._ranked_pool(pool.items, order_scores, predicted, request.n,
                                     lambda item, stars: f"{item.reason}; predicted {stars:.1f} stars for you")

        admirer = self.svd.fold_in([RatedMovie(seed, self.config.admirer_rating)])
        if admirer is None:
            # The seed has no ratings, so no audience is known and content's own order is kept.
            items = [self.content.explained(item) for item in pool.items[: request.n]]
            return Recommendations(items, pool.source, f"{NO_RATINGS}, and {seed_title} has no ratings to learn from")
        order_scores = self._pool_scores(admirer, ids)
        # Without ratings there is no personal prediction to show. The anonymous estimate is only
        # the movie's average adjusted by its bias, so it stays in the details and off the card.
        predicted = self.svd.predict_for(None, ids)
        result = self._ranked_pool(
            pool.items, order_scores, predicted, request.n, lambda item, stars: f"popular with people who liked {seed_title}; {item.reason}",
            personal=False,
        )
        return Recommendations(result.items, SOURCE, f"{NO_RATINGS}: movies like {seed_title} ranked by what people who liked it watch")

    def _pool_scores(self, user: UserFactors, movie_ids: Sequence[int]) -> np.ndarray:
        """Return SVD ranking scores of pool movies; movies without ratings go after all others, in content order."""
        rows = self.svd.rows_of(movie_ids)
        scores = self.svd.ranking_scores(user)[np.maximum(rows, 0)]
        known = (rows >= 0) & np.isfinite(scores)
        if not known.any():
            return -np.arange(len(rows), dtype=np.float64)
        floor = scores[known].min() - 1.0
        return np.where(known, scores, floor - np.arange(len(rows)) * 1e-6)

    def _seed_pool(self, request: Request) -> Recommendations | None:
        """Return the seed's most similar movies, unexplained and in cosine order, or None when the content model lacks them."""
        if self.content is None or request.seed_movie_id not in self.content:
            return None
        blocked = set(request.blocked_ids())
        if request.user_id is not None:
            blocked.update(self.svd.trained_movies(request.user_id).tolist())
        return self.content.similar(
            request.seed_movie_id, n=max(self.config.seed_pool, request.n), exclude=blocked, quality=False,
            genre=request.genre, year_from=request.year_from, year_to=request.year_to, explain=False,
        )

    def _ranked_pool(self, items: Sequence[Suggestion], scores: np.ndarray, predicted: np.ndarray, n: int,
                     reason: Callable[[Suggestion, float], str], personal: bool = True) -> Recommendations:
        """Re-rank content suggestions by ``scores`` (ties: content order), keep ``n``, then explain them and rewrite their reasons.

        ``personal=False`` marks ``predicted`` as the anonymous estimate, which goes into the details
        as ``baseline_rating`` and leaves ``predicted_rating`` unset.
        """
        order = sorted(range(len(items)), key=lambda index: (-scores[index], index))[:n]
        ranked = []
        for index in order:
            if not np.isfinite(scores[index]):
                continue
            # The pool comes unexplained, so only the movies kept pay for their explanation.
            item = self.content.explained(items[index])
            stars = float(predicted[index])
            rating_key = "predicted_rating" if personal else "baseline_rating"
            details = {**item.details, rating_key: round(stars, 3), "similarity_rank": index + 1}
            displayed_rating = stars if personal else None
            ranked.append(Suggestion(item.movie_id, float(scores[index]), reason(item, stars), SOURCE, displayed_rating, details))
        return Recommendations(ranked, SOURCE)

    # ------------------------------------------------------------------ personal

    def _personal(self, request: Request, user: UserFactors) -> Recommendations:
        svd = self.svd
        predicted = svd.scores(user)
        ranked = svd.ranking_scores(user, predicted)
        ranked[svd.blocked_rows(request)] = -np.inf
        ranked[~svd.filter_mask(request)] = -np.inf
        pool = svd.top_rows(ranked, max(self.config.candidate_pool, request.n))
        if not len(pool):
            return Recommendations([], SOURCE, "no movie left to suggest after your ratings, exclusions and filters")
        liked = self._liked(request, user)
        affinity, closest = self._affinity(liked, svd.item_ids[pool])
        scores = ranked[pool]
        if self.config.content_weight > 0 and affinity.any():
            scores = _standardised(scores) + self.config.content_weight * _standardised(affinity)
        order = np.lexsort((svd.item_ids[pool], -scores))[: request.n]
        chosen = pool[order]
        movie_ids = svd.item_ids[chosen].tolist()
        fallback_reasons = svd.contributions(user, movie_ids)
        items = []
        for position, row, movie_id in zip(order, chosen, movie_ids):
            stars = float(predicted[row])
            details: dict[str, Any] = {"predicted_rating": round(stars, 3), "svd_score": float(ranked[row]),
                                       "content_affinity": round(float(affinity[position]), 4)}
            reason = f"predicted {stars:.1f} stars for you"
            similar_to = closest.get(movie_id)
            contribution = fallback_reasons[len(items)]
            if similar_to is not None:
                details["because_of"] = similar_to.movie_id
                reason = f"similar to {self._title(similar_to.movie_id)}, which you rated {_stars(similar_to.rating)}; {reason}"
            elif contribution is not None:
                details["because_of"] = contribution.movie_id
                reason = f"because you rated {self._title(contribution.movie_id)} {_stars(contribution.rating)}; {reason}"
            items.append(Suggestion(int(movie_id), float(scores[position]), reason, SOURCE, stars, details))
        return Recommendations(items, SOURCE)

    def _liked(self, request: Request, user: UserFactors) -> list[RatedMovie]:
        """Return the user's most recent liked ratings, oldest first."""
        history = request.history or user.rated
        liked = [item for item in history if item.rating >= self.config.liked_rating]
        return list(liked[-self.config.history_seeds:])

    def _affinity(self, liked: Sequence[RatedMovie], candidates: np.ndarray) -> tuple[np.ndarray, dict[int, RatedMovie]]:
        """Return each candidate's summed cosine to the liked movies, and the liked movie closest to it.

        Uses the content model's stored neighbours, so a candidate outside every liked movie's
        top-k counts as 0.
        """
        affinity = np.zeros(len(candidates))
        closest: dict[int, RatedMovie] = {}
        if self.content is None or not liked:
            return affinity, closest
        position = {int(movie_id): index for index, movie_id in enumerate(candidates.tolist())}
        best: dict[int, float] = {}
        for rated in liked:
            if rated.movie_id not in self.content:
                continue
            neighbour_ids, cosines = self.content.neighbours(rated.movie_id)
            weight = rated.rating - self.config.liked_rating + 1.0
            for movie_id, cosine in zip(neighbour_ids.tolist(), cosines.tolist()):
                index = position.get(movie_id)
                if index is None:
                    continue
                affinity[index] += weight * cosine
                if cosine > best.get(movie_id, 0.0):
                    best[movie_id] = cosine
                    closest[movie_id] = rated
        return affinity, closest

    # ------------------------------------------------------------------ newcomers

    def _without_ratings(self, request: Request, why: str = NO_RATINGS) -> Recommendations:
        chart = self.popularity.recommend(request)
        return Recommendations(chart.items, chart.source, why)

    def _from_content(self, request: Request) -> Recommendations:
        """Return content picks, else the chart, for a user whose rated movies are not in the SVD model."""
        why = "none of your rated movies has collaborative data yet"
        if self.content is not None:
            result = self.content.recommend(request)
            if result.items:
                return Recommendations(result.items, result.source, why)
        return self._without_ratings(request, why)

    def _title(self, movie_id: int) -> str:
        return self.svd.title(movie_id)
