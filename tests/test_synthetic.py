"""Synthetic dataset generator: layout, scale, shape of the data and reproducibility, on small sizes."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from recengine.cli import main
from recengine.movielens import load_folder
from recengine.synthetic import SyntheticConfig, generate_dataset

SMALL = SyntheticConfig(movies=2000, users=800, ratings=60_000, seed=5, users_per_block=300)


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    """A generated folder and its ratings frame, shared by the read-only tests below."""
    folder = tmp_path_factory.mktemp("synthetic") / "small"
    summary = generate_dataset(folder, SMALL)
    return summary, pd.read_csv(folder / "ratings.csv")


def _digest(folder) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


def test_row_counts(small_dataset):
    summary, ratings = small_dataset
    folder = summary.folder
    assert summary.ratings == 60_000
    assert len(ratings) == 60_000
    assert len(pd.read_csv(folder / "movies.csv")) == 2000
    assert len(pd.read_csv(folder / "links.csv")) == 2000
    metadata = pd.read_csv(folder / "movie_metadata.csv")
    assert len(metadata) == summary.with_metadata
    # 90% of movies get metadata; 2000 draws put the share within a few points of it.
    assert 0.85 < summary.with_metadata / 2000 < 0.95
    assert len(pd.read_csv(folder / "tags.csv")) == summary.tags


def test_id_ranges_and_uniqueness(small_dataset):
    _, ratings = small_dataset
    assert ratings["userId"].min() == 1
    assert ratings["userId"].max() == 800
    assert ratings["userId"].nunique() == 800
    assert ratings["movieId"].between(1, 2000).all()
    assert not ratings.duplicated(["userId", "movieId"]).any()
    assert ratings["timestamp"].between(820_454_400, 1_537_799_250).all()


def test_rating_scale_half_steps(small_dataset):
    _, ratings = small_dataset
    values = ratings["rating"]
    assert values.between(0.5, 5.0).all()
    assert ((values * 2) == (values * 2).round()).all()
    assert set(values.unique()) == {0.5 * step for step in range(1, 11)}
    # The mean sits near MovieLens's 3.5 and whole stars are the more common.
    assert 3.3 < values.mean() < 3.7
    assert (values == values.round()).mean() > 0.6


def test_every_user_rates_at_least_twenty(small_dataset):
    _, ratings = small_dataset
    assert ratings.groupby("userId").size().min() >= 20


def test_popularity_is_long_tailed(small_dataset):
    _, ratings = small_dataset
    counts = ratings["movieId"].value_counts().sort_values(ascending=False).to_numpy()
    top_share = counts[: 2000 // 100].sum() / counts.sum()
    # Uniform popularity would give the top 1% of movies about 1% of the ratings.
    assert top_share > 0.10
    assert np.median(counts) < counts.mean()


def test_user_activity_is_long_tailed(small_dataset):
    _, ratings = small_dataset
    per_user = ratings.groupby("userId").size()
    assert per_user.max() > 5 * per_user.median()


def test_ratings_have_learnable_structure(small_dataset):
    """Halves of each user's and each movie's ratings agree, which noise alone would not give."""
    _, ratings = small_dataset
    rng = np.random.default_rng(0)
    half = rng.random(len(ratings)) < 0.5
    for key in ("userId", "movieId"):
        first = ratings[half].groupby(key)["rating"].agg(["mean", "count"])
        second = ratings[~half].groupby(key)["rating"].agg(["mean", "count"])
        both = first.join(second, lsuffix="_a", rsuffix="_b", how="inner")
        both = both[(both["count_a"] >= 10) & (both["count_b"] >= 10)]
        assert len(both) > 50
        assert np.corrcoef(both["mean_a"], both["mean_b"])[0, 1] > 0.4


def test_same_seed_gives_identical_files(tmp_path, small_dataset):
    summary, _ = small_dataset
    again = generate_dataset(tmp_path / "again", SMALL)
    assert _digest(again.folder) == _digest(summary.folder)


def test_other_seed_gives_other_ratings(tmp_path, small_dataset):
    summary, ratings = small_dataset
    other = generate_dataset(tmp_path / "other", SyntheticConfig(movies=2000, users=800, ratings=60_000, seed=6))
    other_ratings = pd.read_csv(other.folder / "ratings.csv")
    assert len(other_ratings) == len(ratings)
    assert not other_ratings.equals(ratings)


def test_loads_with_metadata(small_dataset):
    summary, ratings = small_dataset
    data = load_folder(summary.folder, imdb_metadata=summary.metadata_path)
    movies = data.catalog.movies
    assert len(movies) == 2000
    assert len(data.ratings) == 60_000
    assert int(movies["director"].notna().sum()) == summary.with_metadata
    with_director = movies[movies["director"].notna()]
    assert (with_director["cast"].map(len) == 3).all()
    assert (with_director["keywords"].map(len) >= 2).all()
    assert movies["year"].notna().all()
    assert movies["genres"].map(len).between(1, 4).all()
    assert int(movies["rating_count"].sum()) == 60_000
    assert (movies["tags"].map(len) > 0).any()
    # Titles are parsed like MovieLens ones: a trailing article moves to the front.
    assert not movies["title"].str.endswith(", The").any()
    assert movies["title"].str.startswith("The ").any()


def test_some_titles_repeat_across_years(small_dataset):
    summary, _ = small_dataset
    movies = load_folder(summary.folder).catalog.movies
    years_per_title = movies.groupby("title")["year"].nunique()
    assert (years_per_title > 1).any()


def test_existing_folder_is_kept_without_overwrite(tmp_path):
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="already exists"):
        generate_dataset(folder, SyntheticConfig(movies=50, users=30, ratings=600))
    assert (folder / "notes.txt").read_text() == "keep me"


def test_overwrite_replaces_folder(tmp_path):
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "notes.txt").write_text("old")
    generate_dataset(folder, SyntheticConfig(movies=50, users=30, ratings=600), overwrite=True)
    assert not (folder / "notes.txt").exists()
    assert len(pd.read_csv(folder / "ratings.csv")) == 600


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ratings": 10, "users": 30}, "must be at least users"),
        ({"movies": 10, "users": 5, "ratings": 1000}, "do not fit"),
        ({"movies": 0}, "movies must be a positive integer"),
        ({"metadata_share": 1.5}, "metadata_share"),
    ],
)
def test_config_rejects_impossible_sizes(changes, message):
    with pytest.raises(ValueError, match=message):
        SyntheticConfig(**{"movies": 50, "users": 30, "ratings": 600, **changes})


def test_tiny_catalog_fills_heavy_users(tmp_path):
    """Users asking for half the catalog get distinct movies even when draws almost never reach the tail."""
    summary = generate_dataset(tmp_path / "tiny", SyntheticConfig(movies=40, users=10, ratings=200, popularity_exponent=30.0))
    ratings = pd.read_csv(summary.folder / "ratings.csv")
    assert len(ratings) == 200
    assert not ratings.duplicated(["userId", "movieId"]).any()
    assert ratings.groupby("userId").size().max() <= 20


def test_command_line(tmp_path, capsys):
    out = tmp_path / "cli"
    status = main(["synthetic", "--movies", "60", "--users", "40", "--ratings", "1200", "--seed", "3", "--out", str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "ratings       1,200" in printed
    assert len(pd.read_csv(out / "ratings.csv")) == 1200
    assert main(["synthetic", "--movies", "60", "--users", "40", "--ratings", "1200", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_command_line_help_lists_options(capsys):
    with pytest.raises(SystemExit):
        main(["synthetic", "--help"])
    text = capsys.readouterr().out
    for option in ("--movies", "--users", "--ratings", "--seed", "--out"):
        assert option in text
