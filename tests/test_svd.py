"""SVD: training through Surprise, fold-in of new users, ranking, explanations, saving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from contract import check_recommender_contract
from recengine.catalog import Catalog
from recengine.errors import ArtefactError, RecEngineError
from recengine.popularity import PopularityModel
from recengine.recommender import RatedMovie, Request
from recengine.svd import (
    SVDConfig, SVDModel, _ranking_entries, _sample_unrated, conversation_user_key, dataset_user_key, load_svd_artefact,
)

GENRES = ("Action", "Comedy", "Drama", "Horror")

# Small, quickly trained settings for the synthetic world below (4 taste clusters).
WORLD_CONFIG = SVDConfig(
    n_factors=8, n_epochs=40, lr_all=0.01, reg_all=0.05,
    rank_n_factors=8, rank_n_epochs=30, rank_lr_all=0.01, imputed_ratio=3.0,
)


def world_catalog(genres_of_movies: np.ndarray, directors: bool = True) -> Catalog:
    """Return a catalog of movies 1..n, one genre each and (optionally) one of three directors per genre."""
    n = len(genres_of_movies)
    ids = np.arange(1, n + 1)
    frame = pd.DataFrame({
        "title": [f"Movie {i}" for i in ids],
        "display_title": [f"Movie {i} (2000)" for i in ids],
        "year": pd.array([1990 + (i % 20) for i in ids], dtype="Int64"),
        "alt_titles": [()] * n,
        "genres": [(GENRES[g],) for g in genres_of_movies],
        "rating_count": 0,
        "rating_mean": np.nan,
        "tags": [()] * n,
        "imdb_id": pd.array([pd.NA] * n, dtype="Int64"),
        "tmdb_id": pd.array([pd.NA] * n, dtype="Int64"),
        "director": [f"Director {g}-{i % 3}" if directors else None for i, g in zip(ids, genres_of_movies)],
        "cast": [()] * n,
        "keywords": [()] * n,
    }, index=pd.Index(ids, name="movie_id"))
    return Catalog(frame, name="synthetic world")


def make_world(rng: np.random.Generator, n_users: int = 300, per_genre: int = 30, ratings_per_user: int = 30):
    """Return (ratings, genre of each movie, expected rating matrix) for users who each love one genre.

    A user's expected rating is 3 + 1.5 for their genre (-1 for the others) + a per-movie quality
    term. Users mostly rate movies of their own genre, because people watch what they like.
    """
    n_movies = per_genre * len(GENRES)
    genre_of = np.repeat(np.arange(len(GENRES)), per_genre)
    quality = rng.normal(0.0, 0.3, n_movies)
    loved = rng.integers(0, len(GENRES), n_users)
    taste = np.full((n_users, len(GENRES)), -1.0)
    taste[np.arange(n_users), loved] = 1.5
    expected = np.clip(3.0 + taste[:, genre_of] + quality[None, :], 0.5, 5.0)
    rows = []
    for user in range(n_users):
        weights = np.exp(taste[user, genre_of])
        movies = rng.choice(n_movies, size=ratings_per_user, replace=False, p=weights / weights.sum())
        noisy = expected[user, movies] + rng.normal(0.0, 0.3, len(movies))
        values = np.clip(np.round(noisy * 2) / 2, 0.5, 5.0)
        rows += [(user + 1, int(movie) + 1, float(value), 1000 * user + step) for step, (movie, value) in enumerate(zip(movies, values))]
    ratings = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"])
    return ratings, genre_of, expected


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(20241204)
    ratings, genre_of, expected = make_world(rng)
    catalog = world_catalog(genre_of)
    model = SVDModel(catalog, WORLD_CONFIG).fit(ratings)
    return catalog, ratings, genre_of, model


def movies_of_genre(genre_of: np.ndarray, genre: str) -> list[int]:
    return [int(index) + 1 for index in np.flatnonzero(genre_of == GENRES.index(genre))]


# ---------------------------------------------------------------------- training


def test_array_trainset_matches_surprise_dataset(rng):
    """Our array-backed trainset must give Surprise's SVD the same ratings in the same order."""
    from surprise import SVD, Dataset, Reader

    ratings, genre_of, _ = make_world(rng, n_users=60, ratings_per_user=15)
    config = SVDConfig(n_factors=5, n_epochs=5, ranking="rating")
    ours = SVDModel(world_catalog(genre_of), config).fit(ratings)
    frame = pd.DataFrame({"user": ratings["user_id"].map(dataset_user_key), "item": ratings["movie_id"], "rating": ratings["rating"]})
    theirs = SVD(**config.surprise_params()).fit(Dataset.load_from_df(frame, Reader(rating_scale=(0.5, 5))).build_full_trainset())
    pairs = ratings.sample(200, random_state=1)
    expected = [theirs.predict(dataset_user_key(u), m).est for u, m in zip(pairs["user_id"], pairs["movie_id"])]
    np.testing.assert_allclose(ours.predict_pairs(pairs["user_id"].to_numpy(), pairs["movie_id"].to_numpy()), expected, atol=1e-5)


def test_conversation_users_stay_distinct(rng):
    ratings, genre_of, _ = make_world(rng, n_users=40, ratings_per_user=10)
    chat = pd.DataFrame({"user_key": ["1", "1", "alice"], "movie_id": [1, 2, 3], "rating": [5.0, 4.0, 3.0]})
    model = SVDModel(world_catalog(genre_of), SVDConfig(n_factors=4, n_epochs=3, ranking="rating")).fit(ratings, chat)
    assert model.n_users == 42
    assert model.trained_user(dataset_user_key(1)) is not None
    assert model.trained_user(conversation_user_key("1")) is not None
    assert conversation_user_key("1") != dataset_user_key(1)
    assert int(model.item_counts.sum()) == len(ratings) + 3


def test_unknown_catalog_movies_dropped(rng):
    ratings, genre_of, _ = make_world(rng, n_users=20, ratings_per_user=10)
    extra = pd.DataFrame({"user_id": [1], "movie_id": [99_999], "rating": [4.0], "timestamp": [0]})
    model = SVDModel(world_catalog(genre_of), SVDConfig(n_factors=4, n_epochs=2, ranking="rating")).fit(pd.concat([ratings, extra]))
    assert 99_999 not in model
    assert int(model.item_counts.sum()) == len(ratings)


def test_fit_without_ratings_raises(rng):
    _, genre_of, _ = make_world(rng, n_users=5, ratings_per_user=5)
    empty = pd.DataFrame({"user_id": [], "movie_id": [], "rating": []})
    with pytest.raises(RecEngineError, match="no ratings to train on"):
        SVDModel(world_catalog(genre_of)).fit(empty)


def test_missing_columns_raise(rng):
    _, genre_of, _ = make_world(rng, n_users=5, ratings_per_user=5)
    with pytest.raises(RecEngineError, match="lack column"):
        SVDModel(world_catalog(genre_of)).fit(pd.DataFrame({"user_id": [1], "movie_id": [1]}))


@pytest.mark.parametrize("changes, message", [
    ({"n_factors": 0}, "n_factors"),
    ({"fold_in_reg": 0.0}, "fold_in_reg"),
    ({"ranking": "stars"}, "ranking must be one of"),
    ({"rating_min": 5.0}, "rating_min"),
    ({"imputed_ratio": 0.0}, "imputed_ratio"),
])
def test_config_rejects_invalid_values(changes, message):
    with pytest.raises(ValueError, match=message):
        SVDConfig(**changes)


def test_sample_unrated_avoids_rated_and_repeats(rng):
    users = np.array([0, 0, 0, 1, 1, 2], dtype=np.int32)
    items = np.array([0, 1, 2, 0, 3, 4], dtype=np.int32)
    drawn_users, drawn_items = _sample_unrated(users, items, 3, 6, 1.0, rng)
    rated = set(zip(users.tolist(), items.tolist()))
    pairs = list(zip(drawn_users.tolist(), drawn_items.tolist()))
    assert not rated & set(pairs)
    assert len(pairs) == len(set(pairs))
    # User 0 rated 3 of 6 movies: at most 3 draws; a draw is lost only when it repeats or hits a rated one.
    assert np.bincount(drawn_users, minlength=3)[0] <= 3


def test_sample_unrated_large_ratio(rng):
    users = np.zeros(2, dtype=np.int32)
    items = np.array([0, 1], dtype=np.int32)
    drawn_users, drawn_items = _sample_unrated(users, items, 1, 1000, 1.0, rng)
    assert len(drawn_items) <= 2
    drawn_users, drawn_items = _sample_unrated(users, items, 1, 4, 100.0, rng)
    # 200 draws over the 2 unrated movies must find both.
    assert sorted(drawn_items.tolist()) == [2, 3]


def test_ranking_entries_group_users_and_keep_ratings(rng):
    ratings, _, _ = make_world(rng, n_users=50, ratings_per_user=10)
    users = (ratings["user_id"].to_numpy() - 1).astype(np.int32)
    items = (ratings["movie_id"].to_numpy() - 1).astype(np.int32)
    values = ratings["rating"].to_numpy()
    # 2,000 movies, so that draws rarely repeat or hit one of the 10 rated movies of a user.
    entry_users, entry_items, targets = _ranking_entries(users, items, values, 50, 2000, 2.0, 0.0, rng, block_users=7)
    # Grouped by user, every rating kept with its value, and about two drawn movies per rating.
    assert (np.diff(entry_users) >= 0).all()
    kept = {(u, i): t for u, i, t in zip(entry_users.tolist(), entry_items.tolist(), targets.tolist()) if t != 0.0}
    assert kept == {(u, i): v for u, i, v in zip(users.tolist(), items.tolist(), values.tolist())}
    drawn = [(u, i) for u, i, t in zip(entry_users.tolist(), entry_items.tolist(), targets.tolist()) if t == 0.0]
    assert len(drawn) == len(set(drawn))
    assert 0.95 * 2 * len(values) <= len(drawn) <= 2 * len(values)
    # Within a user, ratings and drawn movies are interleaved rather than ratings first.
    first_user = targets[entry_users == 0]
    assert (first_user[: len(first_user) // 2] == 0.0).any()


# ---------------------------------------------------------------------- fold-in


def test_fold_in_recovers_preference_order(world):
    catalog, _, genre_of, model = world
    horror, comedy = movies_of_genre(genre_of, "Horror"), movies_of_genre(genre_of, "Comedy")
    history = (RatedMovie(horror[0], 5.0), RatedMovie(horror[1], 4.5), RatedMovie(comedy[0], 1.5))
    user = model.fold_in(history)
    assert user is not None and user.folded_in
    predicted = model.predict_for(user, np.arange(1, len(genre_of) + 1))
    means = {genre: predicted[genre_of == index].mean() for index, genre in enumerate(GENRES)}
    # The folded-in user prefers horror to every other genre by more than half a star on average.
    for genre in ("Action", "Comedy", "Drama"):
        assert means["Horror"] > means[genre] + 0.5, means
    top = model.recommend(Request(history=history, n=10)).movie_ids
    assert len(top) == 10
    assert all(genre_of[movie_id - 1] == GENRES.index("Horror") for movie_id in top), top


def test_fold_in_is_close_to_trained_user(world):
    """Folding a trained user back in from all their ratings gives nearly the same predictions."""
    catalog, ratings, genre_of, model = world
    user_ratings = ratings[ratings["user_id"] == 7]
    history = [RatedMovie(int(m), float(r)) for m, r in zip(user_ratings["movie_id"], user_ratings["rating"])]
    all_movies = np.arange(1, len(genre_of) + 1)
    trained = model.predict_for(model.trained_user(dataset_user_key(7)), all_movies)
    folded = model.predict_for(model.fold_in(history), all_movies)
    assert np.corrcoef(trained, folded)[0, 1] > 0.9
    assert np.abs(trained - folded).mean() < 0.3


def test_imputed_fold_in_matches_explicit_weighted_least_squares(world):
    """The Gram-matrix shortcut equals solving with every unrated movie written out with weight π."""
    _, _, genre_of, model = world
    ranking = model.ranking_model
    rated = model.rows_of([3, 40, 77])
    values = np.array([5.0, 2.0, 4.0])
    vector = ranking.fold_in(rated, values)

    n_items = ranking.n_items
    share = min(1.0, model.config.imputed_ratio * len(rated) / (n_items - len(rated)))
    unrated = np.setdiff1d(np.arange(n_items), rated)
    design = ranking.design(np.concatenate([rated, unrated]))
    targets = np.concatenate([values, np.full(len(unrated), model.config.imputed_value)])
    targets = targets - ranking.global_mean - ranking.item_bias[np.concatenate([rated, unrated])]
    weights = np.concatenate([np.ones(len(rated)), np.full(len(unrated), share)])
    normal = design.T @ (design * weights[:, None]) + np.diag(ranking.penalty)
    expected = np.linalg.solve(normal, design.T @ (weights * targets))
    assert vector.bias == pytest.approx(expected[0], abs=1e-6)
    np.testing.assert_allclose(vector.factors, expected[1:], atol=1e-5)


def test_contributions_sum_to_the_ranking_score(world):
    """Shares of the rated movies plus the imputed term and the item baseline give the score."""
    _, _, genre_of, model = world
    history = (RatedMovie(3, 5.0), RatedMovie(40, 4.0), RatedMovie(77, 4.5))
    user = model.fold_in(history)
    ranking = model.ranking_model
    rated = model.rows_of([3, 40, 77])
    candidates = model.rows_of([5, 60, 100])
    shares = ranking.shares(rated, np.array([5.0, 4.0, 4.5]), candidates)
    normal, _, _, share = ranking.normal_equations(rated, np.array([5.0, 4.0, 4.5]))
    imputed = ranking.design(candidates) @ np.linalg.solve(normal, share * ranking._imputed_rhs)
    rebuilt = ranking.global_mean + ranking.item_bias[candidates] + shares.sum(axis=1) + imputed
    np.testing.assert_allclose(rebuilt, model.ranking_scores(user)[candidates], atol=1e-4)


def test_dataset_user_with_new_rating_is_folded_in(world):
    catalog, ratings, genre_of, model = world
    user_ratings = ratings[ratings["user_id"] == 3]
    history = [RatedMovie(int(m), float(r)) for m, r in zip(user_ratings["movie_id"], user_ratings["rating"])]
    assert model.user_for(Request(history=tuple(history), user_id=3)).folded_in is False
    unrated = next(movie for movie in range(1, len(genre_of) + 1) if movie not in set(user_ratings["movie_id"]))
    newer = tuple(history) + (RatedMovie(unrated, 5.0),)
    assert model.user_for(Request(history=newer, user_id=3)).folded_in is True
    assert unrated not in model.recommend(Request(history=newer, user_id=3, n=50)).movie_ids


def test_trained_user_without_history_masks_training_movies(world):
    _, ratings, _, model = world
    result = check_recommender_contract(model, model.catalog, Request(user_id=5, n=20))
    assert result.items
    assert not set(result.movie_ids) & set(ratings.loc[ratings["user_id"] == 5, "movie_id"])


def test_unknown_user_gets_empty_list_with_reason(world):
    _, _, _, model = world
    result = model.recommend(Request(user_id=123_456, n=5))
    assert result.items == []
    assert result.fallback_reason == "no ratings of movies the model knows"
    assert model.fold_in([RatedMovie(99_999, 4.0)]) is None


# ---------------------------------------------------------------------- predictions


def test_predictions_clipped_to_half_and_five_stars(world):
    _, _, _, model = world
    model = model.with_config(model.config)
    model.rating_model.item_bias = model.rating_model.item_bias.copy()
    model.rating_model.item_bias[model.rows_of([1, 2])] = [20.0, -20.0]
    assert model.predict(1, 1) == 5.0
    assert model.predict(1, 2) == 0.5
    scores = model.scores(model.fold_in([RatedMovie(3, 4.0)]))
    assert scores.max() <= 5.0
    assert scores.min() >= 0.5
    assert scores[model.rows_of([1])[0]] == 5.0


def test_unknown_user_and_movie_predictions(world):
    _, ratings, _, model = world
    rating_model = model.rating_model
    assert model.predict(None, 1) == pytest.approx(rating_model.global_mean + rating_model.item_bias[model.rows_of([1])[0]], abs=1e-5)
    user_row = model.user_keys.index(dataset_user_key(2))
    assert model.predict(2, 99_999) == pytest.approx(rating_model.global_mean + rating_model.user_bias[user_row], abs=1e-5)


def test_save_load_round_trip_gives_identical_predictions(world, tmp_path):
    catalog, ratings, genre_of, model = world
    model.save(tmp_path / "svd")
    loaded = SVDModel.load(tmp_path / "svd", catalog)
    users = ratings["user_id"].to_numpy()[:100]
    movies = ratings["movie_id"].to_numpy()[:100]
    np.testing.assert_array_equal(model.predict_pairs(users, movies), loaded.predict_pairs(users, movies))
    history = (RatedMovie(3, 5.0), RatedMovie(40, 2.0), RatedMovie(77, 4.5))
    before, after = model.recommend(Request(history=history, n=10)), loaded.recommend(Request(history=history, n=10))
    assert before.movie_ids == after.movie_ids
    assert [item.score for item in before.items] == [item.score for item in after.items]
    assert [item.reason for item in before.items] == [item.reason for item in after.items]
    assert loaded.config == model.config


def test_load_reports_missing_and_mismatched_artefacts(world, tmp_path):
    catalog, _, _, model = world
    with pytest.raises(ArtefactError, match="build --only svd"):
        SVDModel.load(tmp_path / "nowhere", catalog)
    model.with_config(model.config.replace(ranking="rating")).save(tmp_path / "rating-only")
    with pytest.raises(ArtefactError, match="trained for ranking 'rating'"):
        SVDModel.load(tmp_path / "rating-only", catalog, model.config)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "svd.npz").write_bytes(b"not a zip")
    (tmp_path / "broken" / "svd-config.json").write_text("{}")
    with pytest.raises(ArtefactError, match="unreadable"):
        SVDModel.load(tmp_path / "broken", catalog)


# ---------------------------------------------------------------------- ranking and the contract


@pytest.mark.parametrize("request_", [
    Request(history=(RatedMovie(3, 5.0), RatedMovie(40, 2.0), RatedMovie(77, 4.5)), n=10),
    Request(history=(RatedMovie(3, 5.0),), n=5, exclude=frozenset({100, 101, 102})),
    Request(user_id=11, n=15),
    Request(history=(RatedMovie(90, 4.0), RatedMovie(91, 4.0)), n=10, genre="Comedy"),
    Request(history=(RatedMovie(90, 4.0),), n=10, year_from=1995, year_to=1999),
])
def test_svd_contract(world, request_):
    catalog, _, genre_of, model = world
    result = check_recommender_contract(model, catalog, request_)
    assert result.source == "svd"
    assert result.items
    for item in result.items:
        movie = catalog.movie(item.movie_id)
        assert 0.5 <= item.predicted_rating <= 5.0
        if request_.genre:
            assert request_.genre in movie.genres
        if request_.year_from:
            assert request_.year_from <= movie.year <= request_.year_to


def test_rating_ranking_orders_by_predicted_stars(world):
    _, _, _, model = world
    by_rating = model.with_config(model.config.replace(ranking="rating"))
    result = by_rating.recommend(Request(history=(RatedMovie(3, 5.0), RatedMovie(50, 1.0)), n=10))
    stars = [item.predicted_rating for item in result.items]
    assert stars == sorted(stars, reverse=True)
    assert [item.score for item in result.items] == pytest.approx(stars)


def test_min_ratings_and_popularity_weight_change_the_ranking(world):
    _, _, _, model = world
    history = (RatedMovie(3, 5.0), RatedMovie(50, 1.0))
    counts = dict(zip(model.item_ids.tolist(), model.item_counts.tolist()))
    threshold = int(np.percentile(model.item_counts, 75))
    strict = model.with_config(model.config.replace(rank_min_ratings=threshold)).recommend(Request(history=history, n=10))
    assert strict.items and all(counts[movie_id] >= threshold for movie_id in strict.movie_ids)
    plain = model.with_config(model.config.replace(ranking="rating")).recommend(Request(history=history, n=10))
    heavy = model.with_config(model.config.replace(ranking="rating", rank_popularity_weight=5.0)).recommend(Request(history=history, n=10))
    assert np.mean([counts[m] for m in heavy.movie_ids]) > np.mean([counts[m] for m in plain.movie_ids])


def test_reasons_name_a_liked_rated_movie(world):
    catalog, _, genre_of, model = world
    horror = movies_of_genre(genre_of, "Horror")
    history = (RatedMovie(horror[0], 5.0), RatedMovie(horror[1], 4.5), RatedMovie(movies_of_genre(genre_of, "Comedy")[0], 1.0))
    result = model.recommend(Request(history=history, n=5))
    liked_titles = {catalog.movie(horror[0]).display_title, catalog.movie(horror[1]).display_title}
    for item in result.items:
        assert item.reason.startswith("because you rated ")
        assert any(title in item.reason for title in liked_titles), item.reason
        assert item.details["because_of"] in horror[:2]
        assert f"predicted {item.predicted_rating:.1f} stars for you" in item.reason


def test_low_ratings_are_never_named_as_the_reason(world):
    _, _, genre_of, model = world
    comedy = movies_of_genre(genre_of, "Comedy")
    result = model.recommend(Request(history=(RatedMovie(comedy[0], 1.0), RatedMovie(comedy[1], 2.0)), n=5))
    assert result.items
    assert all(not item.reason.startswith("because") for item in result.items)


# ---------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def small_svd(movielens_small):
    """SVD on ml-latest-small with fewer epochs than the default, to keep the test quick."""
    config = SVDConfig(n_epochs=10, rank_n_epochs=10, rank_n_factors=50, n_factors=50)
    return SVDModel(movielens_small.catalog, config).fit(movielens_small.ratings)


@pytest.mark.slow
def test_store_user_gets_personal_list_after_three_ratings(small_svd, movielens_small, settings):
    from recengine.store import RatingsStore

    catalog = movielens_small.catalog
    titles = {movie.display_title: movie.movie_id for movie in catalog}
    store = RatingsStore(settings.database_url)
    try:
        store.rate("chat-only-user", titles["Alien (1979)"], 5.0)
        store.rate("chat-only-user", titles["Aliens (1986)"], 4.5)
        store.rate("chat-only-user", titles["Notting Hill (1999)"], 1.0)
        history = tuple(item.as_rated_movie() for item in store.ratings_for("chat-only-user"))
    finally:
        store.close()
    assert len(history) == 3
    request = Request(history=history, n=10)
    personal = check_recommender_contract(small_svd, catalog, request)
    chart = PopularityModel(catalog).recommend(request)
    assert personal.source == "svd"
    assert personal.fallback_reason is None
    assert len(personal.items) == 10
    assert personal.movie_ids != chart.movie_ids
    assert len(set(personal.movie_ids) - set(chart.movie_ids)) >= 5
    assert all(item.details["folded_in"] for item in personal.items)
    assert any("Alien" in item.reason for item in personal.items)


@pytest.mark.slow
def test_build_and_load_artefact(movielens_small, settings, monkeypatch):
    """The ``svd`` artefact trains on the dataset plus the store's conversational ratings."""
    from recengine import build
    from recengine.store import RatingsStore

    store = RatingsStore(settings.database_url)
    try:
        store.rate("builder-test", 1, 4.0)
    finally:
        store.close()
    fast = SVDConfig(n_factors=10, n_epochs=2, rank_n_factors=10, rank_n_epochs=2)
    builder = next(item for item in build.BUILDERS if item.name == "svd")
    monkeypatch.setattr(build, "BUILDERS", [builder.__class__(builder.name, builder.version,
                                                                lambda context: builder.build(context, fast), builder.params, False)])
    outcomes = build.build_artefacts("ml-latest-small", only=["svd"], settings=settings)
    assert outcomes["svd"].startswith("built")
    manifest = build.read_manifest(build.artefact_dir("svd", "ml-latest-small", settings))
    assert manifest["conversation_ratings"] == 1
    model = load_svd_artefact(movielens_small.catalog, "ml-latest-small", settings)
    assert model.trained_user(conversation_user_key("builder-test")) is not None
    assert model.n_users == movielens_small.ratings["user_id"].nunique() + 1


@pytest.mark.slow
def test_retrain_command_folds_in_conversational_ratings(movielens_small, settings, monkeypatch, capsys):
    from recengine import build
    from recengine.cli import main
    from recengine.store import RatingsStore

    monkeypatch.setenv("RECENGINE_MODELS_DIR", str(settings.models_dir))
    monkeypatch.setenv("RECENGINE_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("RECENGINE_DATABASE_URL", settings.database_url)
    store = RatingsStore(settings.database_url)
    try:
        store.rate("retrain-user", 1, 5.0)
        store.rate("retrain-user", 2, 3.5)
    finally:
        store.close()
    fast = SVDConfig(n_factors=10, n_epochs=2, rank_n_factors=10, rank_n_epochs=2)
    builder = next(item for item in build.BUILDERS if item.name == "svd")
    monkeypatch.setattr(build, "BUILDERS", [builder.__class__(builder.name, builder.version,
                                                                lambda context: builder.build(context, fast), builder.params, False)])
    assert main(["retrain"]) == 0
    output = capsys.readouterr().out
    assert output.startswith("svd          built in")
    assert f"ratings      {len(movielens_small.ratings) + 2:,} (2 from conversations)" in output
    model = load_svd_artefact(movielens_small.catalog, "ml-latest-small", settings)
    assert model.trained_user(conversation_user_key("retrain-user")) is not None
