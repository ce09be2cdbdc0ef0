"""Weighted-rating charts, checked against values worked out by hand on the tiny fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from recengine.movielens import load_folder
from recengine.popularity import PopularityConfig, PopularityModel, weighted_rating
from recengine.recommender import RatedMovie, Request
from tests.contract import check_recommender_contract

FIXTURE = Path(__file__).parent / "fixtures" / "ml-tiny"

# Rating counts v of movies 1..9 in the fixture: 4, 3, 1, 6, 2, 2, 3, 1, 0.
# Sorted 0 1 1 2 2 3 3 4 6: the 75th percentile sits at index 0.75 * 8 = 6, so m = 3.
# Mean ratings R: 4.5, 11/3, 5, 25/6, 3, 4.5, 4, 3 (movie 9 has none), so C = (191/6) / 8 = 191/48.
OVERALL_M = 3.0
OVERALL_C = 191 / 48
# WR = v/(v+m)·R + m/(v+m)·C for the movies with v >= m:
WR_MATRIX = 1437 / 336      # movie 1: 4/7 · 4.5 + 3/7 · 191/48
WR_BIG_DRAMA = 591 / 144    # movie 4: 6/9 · 25/6 + 3/9 · 191/48
WR_HAMLET_1996 = 383 / 96   # movie 7: 3/6 · 4 + 3/6 · 191/48
WR_HEAT = 367 / 96          # movie 2: 3/6 · 11/3 + 3/6 · 191/48
# Drama only: v = 1, 6, 2, 3, 1 for movies 3, 4, 5, 7, 8, so m = 3 and C = (5 + 25/6 + 3 + 4 + 3) / 5 = 23/6.
DRAMA_C = 23 / 6
DRAMA_WR_BIG_DRAMA = 365 / 90   # 6/9 · 25/6 + 3/9 · 23/6
DRAMA_WR_HAMLET = 235 / 60      # 3/6 · 4 + 3/6 · 23/6


@pytest.fixture(scope="module")
def model() -> PopularityModel:
    return PopularityModel(load_folder(FIXTURE).catalog)


def test_weighted_rating_formula():
    assert weighted_rating(100, 4.0, 20, 3.5) == pytest.approx(100 / 120 * 4.0 + 20 / 120 * 3.5)
    assert weighted_rating(0, float("nan"), 5, 3.2) == pytest.approx(3.2)


def test_overall_constants(model):
    stats = model.statistics()
    assert stats.m == pytest.approx(OVERALL_M)
    assert stats.C == pytest.approx(OVERALL_C)
    assert stats.qualified == 4


def test_overall_chart_order_and_scores(model):
    chart = model.chart(n=10)
    assert chart.movie_ids == [1, 4, 7, 2]
    assert [item.score for item in chart.items] == pytest.approx([WR_MATRIX, WR_BIG_DRAMA, WR_HAMLET_1996, WR_HEAT])


def test_single_vote_movie_stays_out(model):
    # Movie 3 has one 5-star rating. Its weighted rating (4.23) even beats Big Drama's, which is
    # why a movie needs m votes to qualify.
    assert 3 not in model.chart(n=10).movie_ids
    assert model.weighted_ratings()[3] == pytest.approx(1 / 4 * 5 + 3 / 4 * OVERALL_C)


def test_genre_chart_uses_its_own_constants(model):
    stats = model.statistics("Drama")
    assert stats.m == pytest.approx(3.0)
    assert stats.C == pytest.approx(DRAMA_C)
    chart = model.chart(genre="drama")
    assert chart.movie_ids == [4, 7]
    assert [item.score for item in chart.items] == pytest.approx([DRAMA_WR_BIG_DRAMA, DRAMA_WR_HAMLET])


def test_year_filters_are_inclusive(model):
    assert model.chart(year_from=1995, year_to=1999).movie_ids == [1, 7, 2]
    assert model.chart(genre="Drama", year_to=1995).movie_ids == [4]
    assert model.chart(year_from=1996, year_to=1996).movie_ids == [7]


def test_unknown_genre_gives_empty_chart(model):
    assert model.chart(genre="Western").items == []


def test_limit_and_exclude(model):
    assert model.chart(n=2).movie_ids == [1, 4]
    assert model.chart(n=2, exclude={1}).movie_ids == [4, 7]


def test_reason_names_genre_and_decade(model):
    chart = model.chart(genre="Drama", year_from=1990, year_to=1999)
    assert chart.items[0].reason.startswith("top-rated Drama of the 1990s")


def test_percentile_setting_changes_threshold():
    model = PopularityModel(load_folder(FIXTURE).catalog, PopularityConfig(percentile=0, min_votes=1))
    # With m = 1 every rated movie qualifies; the one-vote 5-star movie then ranks by its WR.
    assert model.statistics().m == 1
    assert 3 in model.chart(n=10).movie_ids


def test_invalid_percentile_rejected():
    with pytest.raises(ValueError, match="percentile"):
        PopularityConfig(percentile=150)


def test_popularity_contract(model):
    request = Request(history=(RatedMovie(1, 4.0),), exclude=frozenset({4}), n=3)
    result = check_recommender_contract(model, model.catalog, request)
    assert result.movie_ids == [7, 2]


@pytest.mark.slow
def test_one_vote_never_beats_hundreds(movielens_small):
    model = PopularityModel(movielens_small.catalog)
    movies = movielens_small.catalog.movies
    wr = model.weighted_ratings()
    single_five = movies.index[(movies["rating_count"] == 1) & (movies["rating_mean"] == 5.0)]
    well_rated = movies.index[(movies["rating_count"] >= 200) & (movies["rating_mean"] >= 4.0)]
    assert len(single_five) > 10 and len(well_rated) > 10
    assert wr[single_five].max() < wr[well_rated].min()
    top = model.chart(n=10).movie_ids
    assert top[0] == 318  # The Shawshank Redemption (1994): 317 ratings, mean 4.43
    assert not set(top) & set(single_five)
