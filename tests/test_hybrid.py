"""Hybrid: seeded and personal lists, newcomers, exclusions and explanations."""

from __future__ import annotations

import numpy as np
import pytest

from contract import check_recommender_contract
from recengine.content import ContentConfig, ContentModel
from recengine.hybrid import HybridConfig, HybridModel
from recengine.popularity import PopularityModel
from recengine.recommender import RatedMovie, Request
from recengine.svd import SVDModel
from recengine.evaluation import train_catalog
from test_svd import GENRES, WORLD_CONFIG, make_world, movies_of_genre, world_catalog


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(20241205)
    ratings, genre_of, _ = make_world(rng)
    # Four unrated movies are appended; rating counts and means feed the popularity chart.
    catalog = train_catalog(world_catalog(np.concatenate([genre_of, np.arange(len(GENRES))])), ratings)
    svd = SVDModel(catalog, WORLD_CONFIG).fit(ratings)
    content = ContentModel.fit(catalog, ContentConfig(neighbours=40))
    hybrid = HybridModel(catalog, svd, content, PopularityModel(catalog))
    return catalog, ratings, genre_of, hybrid


def horror_fan(genre_of) -> tuple[RatedMovie, ...]:
    horror, comedy = movies_of_genre(genre_of, "Horror"), movies_of_genre(genre_of, "Comedy")
    return (RatedMovie(horror[0], 5.0), RatedMovie(horror[1], 4.5), RatedMovie(comedy[0], 1.0))


def test_newcomer_gets_popularity_chart(world):
    catalog, _, _, hybrid = world
    result = check_recommender_contract(hybrid, catalog, Request(n=10))
    chart = PopularityModel(catalog).recommend(Request(n=10))
    assert result.source == "popularity"
    assert result.fallback_reason == "no ratings yet"
    assert result.movie_ids == chart.movie_ids


def test_personal_list_follows_the_users_taste(world):
    catalog, _, genre_of, hybrid = world
    result = check_recommender_contract(hybrid, catalog, Request(history=horror_fan(genre_of), n=10))
    assert result.source == "hybrid"
    assert result.fallback_reason is None
    assert len(result.items) == 10
    assert all(genre_of[movie_id - 1] == GENRES.index("Horror") for movie_id in result.movie_ids)
    assert result.movie_ids != PopularityModel(catalog).recommend(Request(n=10)).movie_ids


def test_personal_reasons_name_a_liked_movie(world):
    catalog, _, genre_of, hybrid = world
    history = horror_fan(genre_of)
    liked = {catalog.movie(history[0].movie_id).display_title, catalog.movie(history[1].movie_id).display_title}
    for item in hybrid.recommend(Request(history=history, n=10)).items:
        assert item.reason.startswith(("similar to ", "because you rated ")), item.reason
        assert any(title in item.reason for title in liked), item.reason
        assert item.details["because_of"] in {history[0].movie_id, history[1].movie_id}
        assert item.reason.endswith(f"predicted {item.predicted_rating:.1f} stars for you")


def test_rated_and_excluded_movies_never_return(world):
    catalog, _, genre_of, hybrid = world
    history = horror_fan(genre_of)
    first = hybrid.recommend(Request(history=history, n=10)).movie_ids
    excluded = frozenset(first[:5])
    requests = [
        Request(history=history, n=10, exclude=excluded),
        Request(history=history, seed_movie_id=first[6], n=10, exclude=excluded),
        Request(seed_movie_id=first[6], n=10, exclude=excluded),
        Request(n=10, exclude=excluded),
    ]
    for request in requests:
        result = check_recommender_contract(hybrid, catalog, request)
        assert result.items
        assert not set(result.movie_ids) & (excluded | request.rated_ids | {request.seed_movie_id})


def test_excluding_everything_left_gives_empty_list(world):
    catalog, _, genre_of, hybrid = world
    history = horror_fan(genre_of)
    everything = frozenset(int(movie_id) for movie_id in catalog.movie_ids)
    result = check_recommender_contract(hybrid, catalog, Request(history=history, n=10, exclude=everything))
    assert result.items == []
    assert "no movie left" in result.fallback_reason


def test_seed_with_ratings_reranks_content_neighbours_by_prediction(world):
    catalog, _, genre_of, hybrid = world
    by_stars = HybridModel(catalog, hybrid.svd, hybrid.content, hybrid.popularity, HybridConfig(seed_order="predicted"))
    history = horror_fan(genre_of)
    seed = movies_of_genre(genre_of, "Drama")[0]
    result = check_recommender_contract(by_stars, catalog, Request(history=history, seed_movie_id=seed, n=8))
    assert result.source == "hybrid"
    assert result.fallback_reason is None
    pool = hybrid.content.similar(seed, n=HybridConfig().seed_pool, exclude=request_blocked(history, seed), quality=False).movie_ids
    assert set(result.movie_ids) <= set(pool)
    predicted = [item.predicted_rating for item in result.items]
    assert predicted == sorted(predicted, reverse=True)
    user = hybrid.svd.fold_in(history)
    best = sorted(pool, key=lambda movie_id: -hybrid.svd.predict_for(user, [movie_id])[0])[:8]
    assert set(result.movie_ids) == set(best)
    seed_title = catalog.movie(seed).display_title
    for item in result.items:
        assert seed_title in item.reason
        assert item.reason.endswith(f"predicted {item.predicted_rating:.1f} stars for you")


def test_seed_with_ratings_ranked_by_svd_ranking_score(world):
    catalog, _, genre_of, hybrid = world
    history = horror_fan(genre_of)
    seed = movies_of_genre(genre_of, "Drama")[0]
    result = check_recommender_contract(hybrid, catalog, Request(history=history, seed_movie_id=seed, n=8))
    pool = hybrid.content.similar(seed, n=HybridConfig().seed_pool, exclude=request_blocked(history, seed), quality=False).movie_ids
    user = hybrid.svd.fold_in(history)
    ranking = hybrid.svd.ranking_scores(user)
    expected = sorted(pool, key=lambda movie_id: -ranking[hybrid.svd.rows_of([movie_id])[0]])[:8]
    assert result.movie_ids == expected
    assert [item.score for item in result.items] == pytest.approx([ranking[hybrid.svd.rows_of([m])[0]] for m in expected])


def test_pool_movies_without_ratings_come_last(world):
    catalog, ratings, genre_of, hybrid = world
    unrated_action = len(genre_of) + 1  # the appended unrated Action movie
    seed = movies_of_genre(genre_of, "Action")[0]
    pool = hybrid.content.similar(seed, n=HybridConfig().seed_pool, quality=False).movie_ids
    assert unrated_action in pool
    for request in (Request(history=horror_fan(genre_of), seed_movie_id=seed, n=len(pool)), Request(seed_movie_id=seed, n=len(pool))):
        result = check_recommender_contract(hybrid, catalog, request)
        assert result.movie_ids[-1] == unrated_action


def request_blocked(history, seed) -> set[int]:
    return {item.movie_id for item in history} | {seed}


def test_seed_without_ratings_uses_people_who_liked_it(world):
    catalog, _, genre_of, hybrid = world
    seed = movies_of_genre(genre_of, "Comedy")[3]
    result = check_recommender_contract(hybrid, catalog, Request(seed_movie_id=seed, n=8))
    seed_title = catalog.movie(seed).display_title
    assert result.source == "hybrid"
    assert result.fallback_reason.startswith("no ratings yet")
    assert all(item.reason.startswith(f"popular with people who liked {seed_title}") for item in result.items)
    # Nothing is known about this user, so no card may claim a personal prediction.
    assert all(item.predicted_rating is None for item in result.items)
    assert all(0.5 <= item.details["baseline_rating"] <= 5.0 for item in result.items)
    # The seed's audience loves comedy, so its neighbours from the same genre come first.
    assert all(genre_of[movie_id - 1] == GENRES.index("Comedy") for movie_id in result.movie_ids[:5])


def test_ratings_unknown_to_svd_fall_back_to_content(world):
    catalog, ratings, genre_of, hybrid = world
    unrated = sorted(set(int(movie_id) for movie_id in catalog.movie_ids) - set(ratings["movie_id"]))
    assert len(unrated) == len(GENRES)
    result = check_recommender_contract(hybrid, catalog, Request(history=(RatedMovie(unrated[0], 5.0),), n=5))
    assert result.source == "content"
    assert result.items
    assert result.fallback_reason == "none of your rated movies has collaborative data yet"


def test_hybrid_without_content_model_still_answers_seeded_requests(world):
    catalog, _, genre_of, hybrid = world
    bare = HybridModel(catalog, hybrid.svd, None, hybrid.popularity)
    seed = movies_of_genre(genre_of, "Drama")[0]
    with_ratings = check_recommender_contract(bare, catalog, Request(history=horror_fan(genre_of), seed_movie_id=seed, n=5))
    assert with_ratings.source == "hybrid"
    assert "content model is not available" in with_ratings.fallback_reason
    without = check_recommender_contract(bare, catalog, Request(seed_movie_id=seed, n=5))
    assert without.source == "popularity"


def test_content_weight_changes_personal_order(world):
    catalog, _, genre_of, hybrid = world
    history = horror_fan(genre_of)
    blended = HybridModel(catalog, hybrid.svd, hybrid.content, hybrid.popularity, HybridConfig(content_weight=5.0))
    plain = hybrid.recommend(Request(history=history, n=10))
    mixed = check_recommender_contract(blended, catalog, Request(history=history, n=10))
    assert plain.movie_ids != mixed.movie_ids
    # Heavily weighted, content affinity puts movies by the liked movies' directors first.
    liked_directors = {catalog.movie(item.movie_id).director for item in history[:2]}
    assert catalog.movie(mixed.movie_ids[0]).director in liked_directors


@pytest.mark.parametrize("changes", [{"seed_pool": 0}, {"content_weight": -1.0}, {"seed_order": "stars"}])
def test_config_rejects_invalid_values(changes):
    with pytest.raises(ValueError):
        HybridConfig(**changes)


@pytest.fixture(scope="module")
def real_models(movielens_small):
    """SVD (fewer epochs than the default, for speed) and content on ml-latest-small."""
    from recengine.svd import SVDConfig

    catalog = movielens_small.catalog
    svd = SVDModel(catalog, SVDConfig(n_epochs=10, rank_n_epochs=10, n_factors=50, rank_n_factors=50)).fit(movielens_small.ratings)
    return svd, ContentModel.fit(catalog)


def rate_as_chat_user(database_url: str, titles: dict[str, int], user_key: str):
    """Store three ratings and one "not interested" for a user known only to the ratings store."""
    from recengine.store import RatingsStore

    store = RatingsStore(database_url)
    try:
        store.rate(user_key, titles["Heat (1995)"], 5.0)
        store.rate(user_key, titles["Pulp Fiction (1994)"], 5.0)
        store.rate(user_key, titles["Mamma Mia! (2008)"], 1.0)
        store.mark(user_key, titles["Reservoir Dogs (1992)"], "not_interested")
        return tuple(item.as_rated_movie() for item in store.ratings_for(user_key)), frozenset(store.marked(user_key))
    finally:
        store.close()


@pytest.mark.slow
def test_store_user_on_real_data(movielens_small, real_models, settings):
    """A user known only to the ratings store gets explained personal and seeded lists."""
    catalog = movielens_small.catalog
    svd, content = real_models
    hybrid = HybridModel(catalog, svd, content, PopularityModel(catalog))
    titles = {movie.display_title: movie.movie_id for movie in catalog}
    history, excluded = rate_as_chat_user(settings.database_url, titles, "hybrid-chat-user")
    personal = check_recommender_contract(hybrid, catalog, Request(history=history, n=10, exclude=excluded))
    chart = PopularityModel(catalog).recommend(Request(history=history, n=10, exclude=excluded))
    assert personal.source == "hybrid"
    assert personal.movie_ids != chart.movie_ids
    assert titles["Reservoir Dogs (1992)"] not in personal.movie_ids
    assert any("Heat (1995)" in item.reason or "Pulp Fiction (1994)" in item.reason for item in personal.items)
    seeded = check_recommender_contract(hybrid, catalog, Request(history=history, seed_movie_id=titles["Alien (1979)"], n=10, exclude=excluded))
    assert seeded.source == "hybrid"
    assert any("Ridley Scott" in item.reason for item in seeded.items)


@pytest.mark.slow
def test_recommend_and_hybrid_commands(movielens_small, real_models, settings, monkeypatch, capsys):
    from recengine.build import artefact_dir
    from recengine.cli import main

    svd, content = real_models
    monkeypatch.setenv("RECENGINE_MODELS_DIR", str(settings.models_dir))
    monkeypatch.setenv("RECENGINE_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("RECENGINE_DATABASE_URL", settings.database_url)
    svd.save(artefact_dir("svd", "ml-latest-small", settings))
    content.save(artefact_dir("content", "ml-latest-small", settings))
    titles = {movie.display_title: movie.movie_id for movie in movielens_small.catalog}
    rate_as_chat_user(settings.database_url, titles, "cli-user")

    assert main(["recommend", "--chat-user", "cli-user", "-n", "5"]) == 0
    output = capsys.readouterr().out
    assert output.startswith("Picks for chat user 'cli-user' (from svd):")
    assert output.count("predicted") >= 5
    assert "Reservoir Dogs" not in output
    assert "Heat (1995)  [" not in output

    assert main(["hybrid", "--chat-user", "cli-user", "--seed", "alien 1979", "-n", "5"]) == 0
    output = capsys.readouterr().out
    assert output.startswith("Hybrid picks for chat user 'cli-user', like Alien (1979) (from hybrid):")
    assert "Ridley Scott" in output

    assert main(["hybrid", "-n", "3"]) == 0
    assert "(from popularity; no ratings yet)" in capsys.readouterr().out

    assert main(["recommend", "--user", "999999"]) == 2
    assert "has no ratings" in capsys.readouterr().err
