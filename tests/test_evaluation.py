"""Evaluation harness: metrics against hand-computed values, splits, and a small end-to-end run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recengine.evaluation import (
    EvaluationConfig, ModelScores, catalogue_coverage, evaluate_recommender, hit_rate_at_k, leave_one_out_split,
    markdown_table, ndcg_at_k, plot_scores, precision_at_k, recall_at_k, run_leave_one_out, run_temporal,
    temporal_split, train_catalog, user_histories,
)
from recengine.recommender import Recommendations, Request, Suggestion

# Ranked list and relevant set used by the metric tests:
#   rank:      1  2  3  4  5
#   movie:     5  3  9  1  7
#   relevant:     ✓        ✓      (8 is relevant but not listed)
RANKED = [5, 3, 9, 1, 7]
RELEVANT = {3, 7, 8}


def test_precision_counts_hits_over_k():
    # Two hits in five places: 2/5. In the first two places one hit: 1/2.
    assert precision_at_k(RANKED, RELEVANT, 5) == pytest.approx(0.4)
    assert precision_at_k(RANKED, RELEVANT, 2) == pytest.approx(0.5)
    # A one-item list still divides by k: 1/5.
    assert precision_at_k([3], RELEVANT, 5) == pytest.approx(0.2)


def test_recall_counts_hits_over_relevant():
    # Two of the three relevant movies are in the top five: 2/3; in the top two, 1/3.
    assert recall_at_k(RANKED, RELEVANT, 5) == pytest.approx(2 / 3)
    assert recall_at_k(RANKED, RELEVANT, 2) == pytest.approx(1 / 3)
    assert recall_at_k(RANKED, set(), 5) == 0.0


def test_ndcg_matches_hand_computation():
    # DCG@5 = 1/log2(2+1) + 1/log2(5+1) = 0.630930 + 0.386853 = 1.017783
    # IDCG@5 (three relevant) = 1/log2(2) + 1/log2(3) + 1/log2(4) = 1 + 0.630930 + 0.5 = 2.130930
    assert ndcg_at_k(RANKED, RELEVANT, 5) == pytest.approx(1.017783 / 2.130930, abs=1e-6)
    # DCG@2 = 0.630930; IDCG@2 = 1 + 0.630930.
    assert ndcg_at_k(RANKED, RELEVANT, 2) == pytest.approx(0.630930 / 1.630930, abs=1e-6)
    # A hit at rank 1 with one relevant movie is perfect; no hit is zero.
    assert ndcg_at_k([7, 1], {7}, 10) == 1.0
    assert ndcg_at_k([1, 2], {7}, 10) == 0.0
    assert ndcg_at_k([1, 7], {7}, 10) == pytest.approx(1 / math.log2(3))


def test_hit_rate_and_coverage():
    assert hit_rate_at_k(RANKED, RELEVANT, 5) == 1.0
    assert hit_rate_at_k(RANKED, RELEVANT, 1) == 0.0
    # Movies 1, 2 and 3 appear in some list of a 10-movie catalog: 3/10.
    assert catalogue_coverage([[1, 2], [2, 3], []], 10) == pytest.approx(0.3)


def test_metrics_reject_invalid_k():
    with pytest.raises(ValueError, match="k must be at least 1"):
        precision_at_k(RANKED, RELEVANT, 0)
    with pytest.raises(ValueError, match="catalog_size"):
        catalogue_coverage([[1]], 0)


def ratings_frame(rows):
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "rating", "timestamp"]).astype({"rating": np.float32})


def test_temporal_split_holds_out_latest_ratings():
    rows = [(1, movie, 4.0, 100 - movie) for movie in range(1, 11)]  # user 1: movie 10 oldest, movie 1 newest
    rows += [(2, 20, 3.0, 5), (2, 21, 5.0, 5), (2, 22, 4.0, 1)]       # a timestamp tie between 20 and 21
    rows += [(3, 30, 4.0, 1)]                                          # a single rating stays in training
    split = temporal_split(ratings_frame(rows), test_fraction=0.2)
    test = split.test.groupby("user_id")["movie_id"].apply(list).to_dict()
    assert test[1] == [2, 1]           # ceil(10 x 0.2) = 2 newest
    assert test[2] == [21]             # ceil(3 x 0.2) = 1; the tie is broken by movie id
    assert 3 not in test
    assert len(split.train) + len(split.test) == len(rows)
    assert set(split.train.loc[split.train["user_id"] == 3, "movie_id"]) == {30}
    for user_id, held_out in test.items():
        train_times = split.train.loc[split.train["user_id"] == user_id, "timestamp"]
        test_times = split.test.loc[split.test["user_id"] == user_id, "timestamp"]
        assert train_times.max() <= test_times.min()
    again = temporal_split(ratings_frame(rows).sample(frac=1.0, random_state=3), test_fraction=0.2)
    pd.testing.assert_frame_equal(again.test, split.test)


def test_temporal_split_rejects_bad_fraction():
    with pytest.raises(ValueError, match="test_fraction"):
        temporal_split(ratings_frame([(1, 1, 4.0, 1)]), test_fraction=1.0)


def test_train_catalog_counts_training_ratings_only(movielens_small):
    split = temporal_split(movielens_small.ratings)
    catalog = train_catalog(movielens_small.catalog, split.train)
    movie_id = int(split.test["movie_id"].value_counts().index[0])
    assert catalog.movies.loc[movie_id, "rating_count"] == int((split.train["movie_id"] == movie_id).sum())
    assert catalog.movies.loc[movie_id, "rating_count"] < movielens_small.catalog.movies.loc[movie_id, "rating_count"]


class _FixedList:
    """A recommender that always returns the same movies minus blocked ones (for scoring tests)."""

    name = "fixed"

    def __init__(self, movie_ids):
        self.movie_ids = movie_ids

    def recommend(self, request: Request) -> Recommendations:
        blocked = request.blocked_ids()
        kept = [movie_id for movie_id in self.movie_ids if movie_id not in blocked][: request.n]
        return Recommendations([Suggestion(m, -rank, "fixed", "fixed") for rank, m in enumerate(kept)], "fixed")


def test_evaluate_recommender_averages_over_users_with_relevant_items():
    train = ratings_frame([(1, 1, 4.0, 1), (2, 1, 4.0, 1), (3, 1, 4.0, 1)])
    test = ratings_frame([(1, 2, 5.0, 2), (1, 3, 4.0, 3), (2, 4, 4.5, 2), (3, 2, 2.0, 2)])
    from recengine.evaluation import Split

    split = Split("tiny", train, test, "")
    scores = evaluate_recommender(_FixedList([1, 2, 5, 4]), split, catalog_size=10, k=2)
    # User 3's only test rating is below 4, so users 1 and 2 count. Movie 1 is rated, so both get [2, 5].
    # User 1: precision 1/2, recall 1/2, NDCG 1/(1 + 1/log2 3). User 2: nothing relevant listed.
    assert scores.users == 2
    assert scores.metrics["precision@2"] == pytest.approx(0.25)
    assert scores.metrics["recall@2"] == pytest.approx(0.25)
    assert scores.metrics["ndcg@2"] == pytest.approx(0.5 / (1 + 1 / math.log2(3)))
    assert scores.metrics["hit_rate@2"] == pytest.approx(0.5)
    assert scores.metrics["coverage"] == pytest.approx(0.2)
    assert scores.answered_by == {"fixed": 2}
    every = evaluate_recommender(_FixedList([1, 2, 5, 4]), split, catalog_size=10, k=2, relevance_threshold=None)
    assert every.users == 3


def test_most_rated_baseline_skips_rated_movies():
    from contract import check_recommender_contract
    from recengine.catalog import Catalog
    from recengine.evaluation import MostRated
    from recengine.recommender import RatedMovie
    from test_svd import world_catalog

    # Movie 3 has three ratings, movie 1 two, movie 2 one; the tie-free order is 3, 1, 2.
    train = ratings_frame([(1, 3, 4.0, 1), (2, 3, 4.0, 1), (3, 3, 4.0, 1), (1, 1, 4.0, 2), (2, 1, 4.0, 2), (3, 2, 4.0, 2)])
    model = MostRated(train)
    catalog: Catalog = world_catalog(np.zeros(4, dtype=int))
    assert model.recommend(Request(n=3)).movie_ids == [3, 1, 2]
    result = check_recommender_contract(model, catalog, Request(history=(RatedMovie(3, 5.0),), n=2))
    assert result.movie_ids == [1, 2]
    assert result.items[0].reason == "rated by 2 users"


def test_user_histories_are_oldest_first():
    histories = user_histories(ratings_frame([(1, 5, 4.0, 30), (1, 6, 3.0, 10), (2, 7, 2.0, 1)]))
    assert [item.movie_id for item in histories[1]] == [6, 5]
    assert histories[2][0].rating == 2.0


def test_leave_one_out_split_attaches_ratings(settings):
    from recengine.movielens import load_dataset

    if settings.data_dir is None:
        pytest.skip("no offline dataset folder with the leave-one-out split")
    data = load_dataset("ml-100k", settings)
    validation, test = leave_one_out_split(settings.data_dir, data.ratings)
    assert len(validation.train) == 98_114
    assert len(test.test) == 943
    assert len(validation.test) == 943
    assert len(test.train) == 98_114 + 943
    assert test.test["rating"].between(1, 5).all()
    assert not set(zip(test.test["user_id"], test.test["movie_id"])) & set(zip(test.train["user_id"], test.train["movie_id"]))


def test_markdown_table_and_plot(tmp_path):
    results = [
        ModelScores("svd", "tiny", {"ndcg@10": 0.12345, "coverage": 0.5}, 3, 1.0),
        ModelScores("popularity", "tiny", {"ndcg@10": 0.05, "coverage": 0.01}, 3, 0.1),
    ]
    table = markdown_table(results, ["ndcg@10", "coverage"])
    assert table.splitlines()[0] == "| model | split | ndcg@10 | coverage | users | eval s |"
    assert "| svd | tiny | 0.1235 | 0.5000 | 3 | 1.0 |" in table
    path = plot_scores(results, [("tiny", ["ndcg@10", "coverage"])], tmp_path / "plots" / "evaluation.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_evaluate_small_slice_returns_unit_interval_numbers(settings):
    from recengine.svd import SVDConfig

    config = EvaluationConfig(max_users=40, leave_one_out=False)
    fast = SVDConfig(n_factors=20, n_epochs=5, rank_n_factors=20, rank_n_epochs=5)
    split, results = run_temporal(config, settings, svd_config=fast)
    assert [result.model for result in results] == ["most-rated", "popularity", "content", "svd-rating", "svd", "hybrid"]
    assert split.train["user_id"].nunique() == 40
    for result in results:
        assert result.users > 0
        for name, value in result.metrics.items():
            assert 0.0 <= value <= 1.0, (result.model, name, value)
    assert any(result.metrics["ndcg@10"] > 0 for result in results)
    _, loo = run_leave_one_out(EvaluationConfig(max_users=40, models=("popularity", "svd")), settings, svd_config=fast)
    assert [result.model for result in loo] == ["popularity", "svd"]
    assert all(0.0 <= value <= 1.0 for result in loo for value in result.metrics.values())


@pytest.mark.slow
def test_evaluate_command_prints_table_and_writes_plot(tmp_path, capsys):
    from recengine.cli import main

    plot = tmp_path / "evaluation.png"
    status = main(["evaluate", "--max-users", "20", "--models", "popularity,svd-rating", "--skip-leave-one-out", "--plot", str(plot)])
    output = capsys.readouterr().out
    assert status == 0
    assert "| popularity | ml-latest-small temporal |" in output
    assert "| svd-rating | ml-latest-small temporal |" in output
    assert f"Command: python -m recengine evaluate --models popularity,svd-rating --max-users 20 --skip-leave-one-out --plot {plot}" in output
    assert plot.is_file()


def test_evaluate_command_rejects_unknown_model(capsys):
    from recengine.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["evaluate", "--models", "svd,magic"])
    assert "unknown model(s) magic" in capsys.readouterr().err


def test_evaluation_config_rejects_unknown_model():
    with pytest.raises(ValueError, match="unknown model"):
        EvaluationConfig(models=("svd", "magic"))


@pytest.mark.slow
def test_tune_hybrid_scores_each_weight_on_validation(settings):
    from recengine.evaluation import tune_hybrid
    from recengine.svd import SVDConfig

    fast = SVDConfig(n_factors=20, n_epochs=5, rank_n_factors=20, rank_n_epochs=5)
    split, results = tune_hybrid(EvaluationConfig(max_users=30), [0.0, 1.0], settings, svd_config=fast)
    assert split.name == "ml-latest-small validation"
    assert [result.model for result in results] == ["hybrid content_weight=0", "hybrid content_weight=1"]
    assert all(0.0 <= value <= 1.0 for result in results for value in result.metrics.values())
    assert len(split.test) > 0
    # The validation cut re-splits the outer training part only, so no outer test rating is used.
    from recengine.movielens import load_dataset

    ratings = load_dataset("ml-latest-small", settings).ratings
    outer = temporal_split(ratings[ratings["user_id"].isin(sorted(ratings["user_id"].unique())[:30])])
    assert len(split.train) + len(split.test) == len(outer.train)
    held_out = set(zip(outer.test["user_id"], outer.test["movie_id"]))
    assert not held_out & set(zip(split.test["user_id"], split.test["movie_id"]))
    assert not held_out & set(zip(split.train["user_id"], split.train["movie_id"]))


@pytest.mark.slow
def test_tune_seeded_scores_both_orders(settings):
    from recengine.evaluation import tune_seeded
    from recengine.svd import SVDConfig

    fast = SVDConfig(n_factors=20, n_epochs=5, rank_n_factors=20, rank_n_epochs=5)
    split, results = tune_seeded(EvaluationConfig(max_users=30), settings, svd_config=fast)
    assert [result.model for result in results] == ["hybrid seed_order=ranking", "hybrid seed_order=predicted", "content"]
    assert all(result.users > 0 for result in results)
    assert all(0.0 <= value <= 1.0 for result in results for value in result.metrics.values())
