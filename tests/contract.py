"""A contract every recommender must pass; each model's tests call :func:`check_recommender_contract`."""

from __future__ import annotations

from recengine.catalog import Catalog
from recengine.recommender import Recommendations, Recommender, Request


def check_recommender_contract(recommender: Recommender, catalog: Catalog, request: Request) -> Recommendations:
    """Assert the interface rules from :mod:`recengine.recommender` on one request and return the result."""
    result = recommender.recommend(request)
    assert isinstance(result, Recommendations)
    ids = result.movie_ids
    assert len(ids) <= request.n, f"{recommender.name} returned {len(ids)} items for n={request.n}"
    assert len(ids) == len(set(ids)), f"{recommender.name} returned a movie twice: {ids}"
    for movie_id in ids:
        assert movie_id in catalog, f"{recommender.name} returned {movie_id}, which is not in the catalog"
    blocked = request.blocked_ids() & set(ids)
    assert not blocked, f"{recommender.name} returned rated, excluded or seed movies {sorted(blocked)}"
    scores = [item.score for item in result.items]
    assert all(a >= b for a, b in zip(scores, scores[1:])), f"{recommender.name} scores are not sorted: {scores}"
    for item in result.items:
        assert item.reason.strip(), f"{recommender.name} gave movie {item.movie_id} no reason"
        assert item.source, f"{recommender.name} gave movie {item.movie_id} no source"
    assert result.source
    return result
