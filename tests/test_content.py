"""Content-based model: features, neighbours, rankings and explanations on hand-made catalogs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from contract import check_recommender_contract
from recengine.catalog import Catalog
from recengine.content import ContentConfig, ContentModel, load_content_artefact
from recengine.errors import UnknownMovieError
from recengine.recommender import RatedMovie, Request


def make_catalog(rows: list[dict]) -> Catalog:
    """Build a catalog from short dicts; omitted columns get empty values."""
    records = []
    for row in rows:
        year = row.get("year", 2000)
        records.append({
            "movie_id": row["id"],
            "title": row["title"],
            "display_title": f"{row['title']} ({year})",
            "year": year,
            "alt_titles": (),
            "genres": tuple(row.get("genres", ())),
            "rating_count": row.get("count", 0),
            "rating_mean": row.get("mean", float("nan")),
            "tags": tuple(row.get("tags", ())),
            "imdb_id": pd.NA,
            "tmdb_id": pd.NA,
            "director": row.get("director"),
            "cast": tuple(row.get("cast", ())),
            "keywords": tuple(row.get("keywords", ())),
        })
    frame = pd.DataFrame(records).set_index("movie_id")
    frame["year"] = frame["year"].astype("Int64")
    frame["imdb_id"] = frame["imdb_id"].astype("Int64")
    frame["tmdb_id"] = frame["tmdb_id"].astype("Int64")
    return Catalog(frame, name="handmade")


def cosine_of(model: ContentModel, seed: int, other: int) -> float:
    ids, sims = model.neighbours(seed)
    matches = sims[ids == other]
    return float(matches[0]) if len(matches) else 0.0


@pytest.fixture
def film_catalog() -> Catalog:
    """Movies with known overlaps: a director pair, a cast pair, genre-only and metadata-less movies."""
    return make_catalog([
        {"id": 1, "title": "Alien", "year": 1979, "director": "Ridley Scott", "cast": ["Sigourney Weaver", "Tom Skerritt", "John Hurt"],
         "genres": ["Horror", "Sci-Fi"], "keywords": ["spaceship", "creature"], "count": 100, "mean": 4.1},
        {"id": 2, "title": "Blade Runner", "year": 1982, "director": "Ridley Scott", "cast": ["Harrison Ford", "Rutger Hauer", "Sean Young"],
         "genres": ["Sci-Fi", "Thriller"], "keywords": ["replicant", "future"], "count": 90, "mean": 4.2},
        {"id": 3, "title": "Aliens", "year": 1986, "director": "James Cameron", "cast": ["Sigourney Weaver", "Michael Biehn", "Carrie Henn"],
         "genres": ["Action", "Horror", "Sci-Fi"], "keywords": ["spaceship", "creature", "marine"], "count": 80, "mean": 3.9},
        {"id": 4, "title": "Galaxy Quest", "year": 1999, "genres": ["Comedy", "Sci-Fi"], "tags": ["parody", "space"], "count": 40, "mean": 3.6},
        {"id": 5, "title": "Spaceballs", "year": 1987, "genres": ["Comedy", "Sci-Fi"], "tags": ["parody", "space"], "count": 30, "mean": 3.2},
        {"id": 6, "title": "The Abyss", "year": 1989, "director": "James Cameron", "cast": ["Ed Harris", "Mary Mastrantonio", "Michael Biehn"],
         "genres": ["Action", "Adventure", "Sci-Fi", "Thriller"], "keywords": ["underwater", "marine"], "count": 20, "mean": 3.7},
        {"id": 7, "title": "Titanic", "year": 1997, "director": "James Cameron", "cast": ["Leonardo DiCaprio", "Kate Winslet", "Billy Zane"],
         "genres": ["Drama", "Romance"], "keywords": ["ship", "love"], "count": 70, "mean": 3.5},
        {"id": 8, "title": "Notebook", "year": 2004, "genres": ["Drama", "Romance"], "keywords": ["loving"], "count": 10, "mean": 3.4},
        {"id": 9, "title": "Mystery Reel", "year": 1950, "count": 1, "mean": 3.0},
    ])


@pytest.fixture
def film_model(film_catalog) -> ContentModel:
    return ContentModel.fit(film_catalog, ContentConfig(quality_rerank=False))


# ---- similarity values -------------------------------------------------------------------


def test_same_director_outranks_same_genre_only():
    catalog = make_catalog([
        {"id": 1, "title": "Seed", "director": "Ann Lee", "genres": ["Drama"]},
        {"id": 2, "title": "Same Director", "director": "Ann Lee", "genres": ["Comedy"]},
        {"id": 3, "title": "Same Genre", "genres": ["Drama"]},
    ])
    model = ContentModel.fit(catalog, ContentConfig(quality_rerank=False))
    ids, sims = model.neighbours(1)
    assert ids.tolist() == [2, 3]
    # Seed = 2·director + 0.5·drama, |seed|² = 4.25; same director: 4/4.25; same genre: 0.25/(√4.25·0.5).
    assert sims[0] == pytest.approx(4 / 4.25, abs=1e-6)
    assert sims[1] == pytest.approx(0.5 / math.sqrt(4.25), abs=1e-6)


def test_movie_is_never_its_own_neighbour(film_model):
    for movie_id in film_model.movie_ids.tolist():
        ids, _ = film_model.neighbours(movie_id)
        assert movie_id not in ids.tolist()
        assert movie_id not in film_model.similar(movie_id, n=20).movie_ids


def test_director_weight_changes_ranking():
    catalog = make_catalog([
        {"id": 1, "title": "Seed", "director": "Dee Director", "cast": ["Actor One", "Actor Two"]},
        {"id": 2, "title": "Director Match", "director": "Dee Director", "cast": ["Other One", "Other Two"]},
        {"id": 3, "title": "Cast Match", "director": "Else Where", "cast": ["Actor One", "Actor Two"]},
    ])
    # Every vector has norm² w² + 2; the director match scores w², the cast match 2.
    doubled = ContentModel.fit(catalog, ContentConfig(director_weight=2, quality_rerank=False))
    single = ContentModel.fit(catalog, ContentConfig(director_weight=1, quality_rerank=False))
    assert doubled.neighbours(1)[0].tolist() == [2, 3]
    assert doubled.neighbours(1)[1].tolist() == pytest.approx([4 / 6, 2 / 6], abs=1e-6)
    assert single.neighbours(1)[0].tolist() == [3, 2]
    assert single.neighbours(1)[1].tolist() == pytest.approx([2 / 3, 1 / 3], abs=1e-6)


def test_genre_weight_changes_ranking():
    catalog = make_catalog([
        {"id": 1, "title": "Seed", "genres": ["Drama", "War"], "cast": ["Ann Actor"], "keywords": ["siege"]},
        {"id": 2, "title": "Genres Only", "genres": ["Drama", "War"]},
        {"id": 3, "title": "Cast And Keyword", "genres": ["Comedy"], "cast": ["Ann Actor"], "keywords": ["siege"]},
    ])
    # Seed norm² 2w² + 2. Genres only: 2w²/(√(2w²+2)·√2·w); cast and keyword: 2/(√(2w²+2)·√(w²+2)).
    even = ContentModel.fit(catalog, ContentConfig(genre_weight=1.0))
    halved = ContentModel.fit(catalog, ContentConfig(genre_weight=0.5))
    assert even.neighbours(1)[0].tolist() == [2, 3]
    assert even.neighbours(1)[1].tolist() == pytest.approx([2 / (2 * math.sqrt(2)), 2 / (2 * math.sqrt(3))], abs=1e-6)
    assert halved.neighbours(1)[0].tolist() == [3, 2]
    assert halved.neighbours(1)[1].tolist() == pytest.approx(
        [2 / (math.sqrt(2.5) * math.sqrt(2.25)), 0.5 / (math.sqrt(2.5) * math.sqrt(2) * 0.5)], abs=1e-6)


def test_max_tags_keeps_most_applied_tags():
    catalog = make_catalog([
        {"id": 1, "title": "Seed", "tags": ["atmospheric", "slow"]},
        {"id": 2, "title": "Slow One", "tags": ["slow"]},
        {"id": 3, "title": "Atmospheric One", "tags": ["atmospheric"]},
    ])
    every_tag = ContentModel.fit(catalog)
    first_tag = ContentModel.fit(catalog, ContentConfig(max_tags=1))
    assert every_tag.neighbours(1)[0].tolist() == [2, 3]
    assert first_tag.neighbours(1)[0].tolist() == [3]


def test_names_stay_distinct_after_folding():
    catalog = make_catalog([
        {"id": 1, "title": "Seed", "cast": ["Tom Hanks"]},
        {"id": 2, "title": "Cruise", "cast": ["Tom Cruise"]},
        {"id": 3, "title": "Hanks Again", "cast": ["TOM  HANKS"]},
    ])
    model = ContentModel.fit(catalog)
    assert model.neighbours(1)[0].tolist() == [3]


def test_singleton_keyword_is_dropped():
    catalog = make_catalog([
        {"id": 1, "title": "Zebra Heist", "genres": ["Crime"], "keywords": ["zebra", "heist"]},
        {"id": 2, "title": "Plain Heist", "genres": ["Crime"], "keywords": ["heist"]},
    ])
    model = ContentModel.fit(catalog)
    # With "zebra" dropped both vectors are equal. Kept, |1|² = 0.25 + 1 + 1, |2|² = 0.25 + 1 and they share 1.25.
    assert cosine_of(model, 1, 2) == pytest.approx(1.0, abs=1e-6)
    kept = ContentModel.fit(catalog, ContentConfig(min_term_movies=1))
    assert cosine_of(kept, 1, 2) == pytest.approx(1.25 / math.sqrt(2.25 * 1.25), abs=1e-6)


def test_stemming_merges_love_and_loving(film_model):
    shared = film_model.shared_features(7, 8)
    assert shared.keywords == ("love",)
    assert shared.genres == ("Drama", "Romance")
    # Titanic: 2·director, 3 cast, 2 genres at 0.5, love ("ship" dropped): norm² 4 + 3 + 0.5 + 1 = 8.5.
    # Notebook: 2 genres at 0.5 and love: norm² 1.5. Shared: 0.25 + 0.25 + 1 = 1.5.
    assert cosine_of(film_model, 8, 7) == pytest.approx(1.5 / math.sqrt(8.5 * 1.5), abs=1e-6)


def test_ties_break_by_rating_count():
    catalog = make_catalog([
        {"id": 1, "title": "Seed", "genres": ["Drama"]},
        {"id": 2, "title": "Rarely Rated", "genres": ["Drama"], "count": 3},
        {"id": 3, "title": "Often Rated", "genres": ["Drama"], "count": 50},
        {"id": 4, "title": "Never Rated", "genres": ["Drama"], "count": 0},
        {"id": 5, "title": "Never Rated Too", "genres": ["Drama"], "count": 0},
    ])
    model = ContentModel.fit(catalog, ContentConfig(quality_rerank=False))
    assert model.neighbours(1)[0].tolist() == [3, 2, 4, 5]
    assert model.similar(1).movie_ids == [3, 2, 4, 5]


def test_block_size_does_not_change_neighbours(film_catalog):
    whole = ContentModel.fit(film_catalog, ContentConfig(block_entries=10_000))
    row_by_row = ContentModel.fit(film_catalog, ContentConfig(block_entries=1))
    for movie_id in film_catalog.movie_ids:
        ids_whole, sims_whole = whole.neighbours(movie_id)
        ids_rows, sims_rows = row_by_row.neighbours(movie_id)
        assert ids_whole.tolist() == ids_rows.tolist()
        assert sims_whole.tolist() == sims_rows.tolist()


def test_neighbours_match_similarities(film_model):
    ids, sims = film_model.neighbours(1)
    full = film_model.similarities(1)
    by_id = dict(zip(film_model.movie_ids.tolist(), full.tolist()))
    assert by_id[1] == 0.0
    for movie_id, cosine in zip(ids.tolist(), sims.tolist()):
        assert cosine == pytest.approx(by_id[movie_id], abs=1e-6)
    assert sims.tolist() == sorted(sims.tolist(), reverse=True)


# ---- explanations ------------------------------------------------------------------------


def test_explanation_names_director_and_cast(film_model):
    result = film_model.similar(1, n=5)
    by_id = {item.movie_id: item for item in result.items}
    blade_runner = by_id[2]
    assert blade_runner.reason.startswith("same director as Alien (1979): Ridley Scott")
    assert blade_runner.details["same_director"] == "Ridley Scott"
    aliens = by_id[3]
    assert aliens.details["shared_cast"] == ["Sigourney Weaver"]
    assert aliens.details["shared_keywords"] == ["creature", "spaceship"]
    assert aliens.reason == "shares Sigourney Weaver and the keywords creature, spaceship with Alien (1979)"
    assert aliens.details["seed_movie_id"] == 1
    assert aliens.source == "content"


def test_unexplained_pool_explained_later(film_model):
    plain = film_model.similar(1, n=5, quality=False)
    bare = film_model.similar(1, n=5, quality=False, explain=False)
    assert bare.movie_ids == plain.movie_ids
    assert all(item.reason == "" for item in bare.items)
    assert "shared_cast" not in bare.items[0].details
    explained = [film_model.explained(item) for item in bare.items]
    assert [item.reason for item in explained] == [item.reason for item in plain.items]
    assert [item.details for item in explained] == [item.details for item in plain.items]


def test_metadata_less_movie_explained_by_tags_and_genres(film_model):
    result = film_model.similar(4, n=3)
    top = result.items[0]
    assert top.movie_id == 5
    assert top.details["shared_tags"] == ["parody", "space"]
    assert top.details["same_director"] is None
    assert top.reason == "shares the tags parody, space and the genres Comedy, Sci-Fi with Galaxy Quest (1999)"


def test_movie_without_features_gets_fallback_reason(film_model):
    result = film_model.similar(9)
    assert result.items == []
    assert "Mystery Reel (1950) has no genres" in result.fallback_reason


def test_unknown_seed_raises(film_model):
    with pytest.raises(UnknownMovieError, match="movie id 999 is not in the content model"):
        film_model.similar(999)


# ---- rankings and requests ---------------------------------------------------------------


def test_quality_rerank_orders_pool_by_weighted_rating(film_catalog):
    model = ContentModel.fit(film_catalog, ContentConfig(quality_rerank=True, quality_pool=4, quality_min_votes_quantile=None))
    plain = model.similar(1, n=4, quality=False).movie_ids
    quality = model.similar(1, n=4, quality=True)
    counts = film_catalog.movies["rating_count"].to_numpy(dtype=float)
    means = film_catalog.movies["rating_mean"].to_numpy(dtype=float)
    m = np.percentile(counts, 75)
    c = means.mean()
    expected_wr = {
        movie_id: count / (count + m) * mean + m / (count + m) * c
        for movie_id, count, mean in zip(film_catalog.movie_ids, counts, means)
    }
    assert sorted(quality.movie_ids) == sorted(plain)
    assert quality.movie_ids == sorted(plain, key=lambda movie_id: -expected_wr[movie_id])
    for item in quality.items:
        assert item.score == pytest.approx(expected_wr[item.movie_id], abs=1e-9)
        assert item.details["weighted_rating"] == pytest.approx(expected_wr[item.movie_id], abs=1e-4)


def test_quality_vote_filter(film_catalog):
    model = ContentModel.fit(film_catalog, ContentConfig(quality_pool=6, quality_min_votes_quantile=0.5))
    result = model.similar(6, n=2, quality=True)
    pool_ids = model.similar(6, n=6, quality=False).movie_ids
    pool_counts = film_catalog.movies.loc[pool_ids, "rating_count"]
    threshold = np.quantile(pool_counts.to_numpy(), 0.5)
    assert all(film_catalog.movies.loc[movie_id, "rating_count"] >= threshold for movie_id in result.movie_ids)


def test_exclusions_beyond_stored_neighbours(film_catalog):
    model = ContentModel.fit(film_catalog, ContentConfig(neighbours=2, quality_rerank=False))
    stored, _ = model.neighbours(1)
    result = model.similar(1, n=3, exclude=stored.tolist())
    assert len(result.items) == 3
    assert not set(result.movie_ids) & set(stored.tolist())
    full = model.similarities(1)
    order = sorted(
        (movie_id for movie_id in model.movie_ids.tolist() if movie_id not in stored.tolist() and movie_id != 1),
        key=lambda movie_id: -full[list(model.movie_ids).index(movie_id)],
    )
    assert result.movie_ids[0] == order[0]


def test_genre_and_year_filters(film_model):
    result = film_model.similar(1, n=10, genre="thriller")
    assert set(result.movie_ids) == {2, 6}
    result = film_model.similar(1, n=10, year_from=1985, year_to=1990)
    assert set(result.movie_ids) == {3, 5, 6}
    empty = film_model.similar(1, genre="Western")
    assert empty.items == []
    assert empty.fallback_reason


def test_recommend_with_seed_blocks_rated_and_excluded(film_catalog, film_model):
    request = Request(seed_movie_id=1, history=(RatedMovie(2, 5.0),), exclude=frozenset({3}), n=4)
    result = check_recommender_contract(film_model, film_catalog, request)
    assert result.source == "content"
    assert result.items
    assert not {1, 2, 3} & set(result.movie_ids)


def test_recommend_from_liked_history(film_catalog, film_model):
    request = Request(history=(RatedMovie(7, 2.0, 1.0), RatedMovie(4, 5.0, 2.0)), n=3)
    result = check_recommender_contract(film_model, film_catalog, request)
    assert result.movie_ids[0] == 5
    top = result.items[0]
    assert top.details["seed_movie_id"] == 4
    assert top.details["seed_rating"] == 5.0
    assert top.reason.endswith("; you rated Galaxy Quest (1999) 5 stars")


def test_history_scores_sum_weighted_cosines(film_catalog, film_model):
    history = (RatedMovie(1, 5.0, 1.0), RatedMovie(7, 4.0, 2.0))
    result = film_model.recommend(Request(history=history, n=8))
    from_alien = dict(zip(film_model.movie_ids.tolist(), film_model.similarities(1).tolist()))
    from_titanic = dict(zip(film_model.movie_ids.tolist(), film_model.similarities(7).tolist()))
    assert result.items
    for item in result.items:
        # Weight = rating - 4 + 1: Alien (5 stars) counts twice, Titanic (4 stars) once.
        expected = 2 * from_alien[item.movie_id] + 1 * from_titanic[item.movie_id]
        assert item.score == pytest.approx(expected, abs=1e-5)
    assert set(result.movie_ids) == {movie_id for movie_id in film_model.movie_ids.tolist()
                                     if movie_id not in (1, 7) and (from_alien[movie_id] > 0 or from_titanic[movie_id] > 0)}


def test_history_beyond_stored_neighbours(film_catalog):
    model = ContentModel.fit(film_catalog, ContentConfig(neighbours=1))
    assert model.neighbours(4)[0].tolist() == [5]
    request = Request(history=(RatedMovie(4, 5.0, 1.0), RatedMovie(5, 3.0, 2.0)), n=3)
    result = check_recommender_contract(model, film_catalog, request)
    assert len(result.items) == 3
    assert 5 not in result.movie_ids


def test_recommend_without_seed_or_liked_history(film_catalog, film_model):
    for request in (Request(n=5), Request(history=(RatedMovie(1, 2.5),), n=5)):
        result = check_recommender_contract(film_model, film_catalog, request)
        assert result.items == []
        assert "no seed movie" in result.fallback_reason


def test_contract_with_quality_rerank_and_small_n(film_catalog):
    model = ContentModel.fit(film_catalog)
    for request in (Request(seed_movie_id=3, n=2), Request(seed_movie_id=6, n=10, exclude=frozenset({1, 7}))):
        result = check_recommender_contract(model, film_catalog, request)
        assert result.items


def test_config_rejects_invalid_values():
    with pytest.raises(ValueError, match="neighbours must be a positive integer"):
        ContentConfig(neighbours=0)
    with pytest.raises(ValueError, match="quality_min_votes_quantile"):
        ContentConfig(quality_min_votes_quantile=1.5)


def test_save_load_round_trip(tmp_path, film_catalog):
    model = ContentModel.fit(film_catalog)
    model.save(tmp_path / "content")
    loaded = ContentModel.load(tmp_path / "content")
    assert loaded.config == model.config
    assert loaded.movie_ids.tolist() == model.movie_ids.tolist()
    for movie_id in film_catalog.movie_ids:
        for quality in (False, True):
            assert loaded.similar(movie_id, quality=quality) == model.similar(movie_id, quality=quality)
        assert loaded.neighbours(movie_id)[0].tolist() == model.neighbours(movie_id)[0].tolist()
        assert loaded.neighbours(movie_id)[1].tolist() == model.neighbours(movie_id)[1].tolist()
    history = Request(history=(RatedMovie(4, 4.5),))
    assert loaded.recommend(history) == model.recommend(history)


def test_load_missing_folder_says_how_to_build(tmp_path):
    from recengine.errors import ArtefactError

    with pytest.raises(ArtefactError, match="build --only content"):
        ContentModel.load(tmp_path / "nothing")


# ---- real data ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_model(movielens_small) -> ContentModel:
    return ContentModel.fit(movielens_small.catalog)


@pytest.mark.slow
@pytest.mark.parametrize("quality", [False, True])
@pytest.mark.parametrize(("seed", "expected"), [(1, 3114), (58559, 33794), (2571, 6365)])
def test_real_sequels_are_similar(small_model, seed, expected, quality):
    result = small_model.similar(seed, n=10, quality=quality)
    assert expected in result.movie_ids


@pytest.mark.slow
def test_real_explanation_names_director(small_model):
    item = next(item for item in small_model.similar(58559, n=10).items if item.movie_id == 33794)
    assert item.reason.startswith("same director as The Dark Knight (2008): Christopher Nolan")
    assert "Christian Bale" in item.details["shared_cast"]


@pytest.mark.slow
def test_real_contract(small_model, movielens_small):
    catalog = movielens_small.catalog
    ratings = movielens_small.ratings
    user = ratings[ratings["user_id"] == 1].sort_values("timestamp")
    history = tuple(RatedMovie(int(row.movie_id), float(row.rating), float(row.timestamp)) for row in user.itertuples())
    for request in (Request(seed_movie_id=296, history=history), Request(history=history, n=20), Request(seed_movie_id=1, genre="Comedy")):
        result = check_recommender_contract(small_model, catalog, request)
        assert len(result.items) == request.n


@pytest.mark.slow
def test_real_build_artefact(settings):
    from recengine.build import build_artefacts

    outcomes = build_artefacts("ml-latest-small", only=["content"], settings=settings)
    assert outcomes["content"].startswith("built")
    model = load_content_artefact("ml-latest-small", settings)
    assert len(model.movie_ids) == 9742
    assert 3114 in model.similar(1).movie_ids


@pytest.mark.slow
def test_similar_command_by_title(tmp_path, monkeypatch, capsys):
    from recengine.cli import main

    monkeypatch.setenv("RECENGINE_MODELS_DIR", str(tmp_path / "models"))
    assert main(["similar", "Toy Story", "-n", "5", "--ranking", "plain"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Movies like Toy Story (1995), by similarity:")
    assert "Toy Story 2 (1999)  [3114," in printed
    assert "same director as Toy Story (1995): John Lasseter" in printed


@pytest.mark.slow
def test_similar_command_json_and_errors(tmp_path, monkeypatch, capsys):
    import json

    from recengine.cli import main

    monkeypatch.setenv("RECENGINE_MODELS_DIR", str(tmp_path / "models"))
    assert main(["similar", "58559", "-n", "3", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["title"] == "The Dark Knight (2008)"
    assert len(payload["items"]) == 3
    assert payload["items"][0]["reason"]
    assert main(["similar", "no such film qqq"]) == 2
    assert "no movie title matches" in capsys.readouterr().err
    assert main(["similar", "99999999"]) == 2
    assert "is not in the ml-latest-small catalog" in capsys.readouterr().err
