"""Tests of the ratings store, run against SQLite and, when it is reachable, PostgreSQL.

Every test that takes the ``store`` fixture runs once per backend. The PostgreSQL leg uses a
fresh database created for this test session on 127.0.0.1:5432 and dropped at its end.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import secrets
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

import store_workers
from recengine.cli import main
from recengine.errors import InvalidRatingError
from recengine.recommender import RatedMovie
from recengine.store import (
    ACCEPTED_RATINGS,
    Base,
    RatingsStore,
    StoreInputError,
    StoreUnavailableError,
    parse_rating,
    validate_rating,
)

ACCEPTED_TEXT = "0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5"
POSTGRES_USERS = ("postgres", "root")


# --- backends -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a uniquely named PostgreSQL database for this session; skip when the server is down."""
    failures = []
    for user in POSTGRES_USERS:
        try:
            admin = create_engine(f"postgresql://{user}@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT", future=True)
        except ImportError as error:
            pytest.skip(f"the PostgreSQL driver psycopg2 is not installed: {error}")
        try:
            with admin.connect() as connection:
                connection.execute(text("SELECT 1"))
            break
        except OperationalError as error:
            failures.append(f"user {user}: {' '.join(str(error.orig).split())}")
            admin.dispose()
    else:
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 (database test) is not reachable: {'; '.join(failures)}")
    name = f"recengine_store_test_{os.getpid()}_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{user}@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path) -> Iterator[str]:
    """URL of an empty database: a new SQLite file, or the session's PostgreSQL database with no tables."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'ratings.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    engine = create_engine(url, future=True)
    Base.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def store(store_url) -> Iterator[RatingsStore]:
    ratings_store = RatingsStore(store_url)
    yield ratings_store
    ratings_store.close()


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=timezone.utc)


# --- rating values ------------------------------------------------------------------------------


def test_validate_rating_accepts_half_steps():
    for expected in ACCEPTED_RATINGS:
        assert validate_rating(expected) == expected
        assert type(validate_rating(expected)) is float
    assert ACCEPTED_RATINGS == (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0)


def test_validate_rating_accepts_other_number_types():
    assert validate_rating(4) == 4.0
    assert validate_rating(np.float32(3.5)) == 3.5
    assert validate_rating(np.int64(2)) == 2.0
    assert validate_rating(Decimal("4.5")) == 4.5
    assert validate_rating(Fraction(1, 2)) == 0.5


@pytest.mark.parametrize(
    "value",
    [0, 0.0, 0.25, 5.5, 6, 10, -1, -0.5, 3.3, 4.499999, math.nan, math.inf, -math.inf, np.float32(3.3),
     Decimal("4.50000000000000000001"), Fraction(9000000000000000001, 2000000000000000000)],
)
def test_validate_rating_rejects_numbers_off_scale(value):
    with pytest.raises(InvalidRatingError) as raised:
        validate_rating(value)
    assert ACCEPTED_TEXT in str(raised.value)
    assert repr(value) in str(raised.value)


@pytest.mark.parametrize("value", ["4", "4.5", "", None, True, False, np.bool_(True), [4.5], b"4"])
def test_validate_rating_rejects_non_numbers(value):
    with pytest.raises(InvalidRatingError) as raised:
        validate_rating(value)
    assert "expected a number" in str(raised.value)
    assert ACCEPTED_TEXT in str(raised.value)


def test_invalid_rating_error_is_a_value_error():
    with pytest.raises(ValueError):
        validate_rating(7)


def test_parse_rating_reads_typed_numbers():
    assert parse_rating("4.5") == 4.5
    assert parse_rating(" 3 ") == 3.0
    assert parse_rating("3,5") == 3.5
    assert parse_rating("0.5") == 0.5
    assert parse_rating(2.5) == 2.5


@pytest.mark.parametrize("text_value", ["abc", "", "  ", "5.5", "3.3", "nan", "inf", "0", "four"])
def test_parse_rating_rejects_bad_text(text_value):
    with pytest.raises(InvalidRatingError) as raised:
        parse_rating(text_value)
    assert repr(text_value) in str(raised.value)
    assert ACCEPTED_TEXT in str(raised.value)


# --- rate, get, list ------------------------------------------------------------------------------


def test_rate_stores_exact_values(store):
    before = datetime.now(timezone.utc)
    returned = store.rate("alice", 1, 4.5)
    after = datetime.now(timezone.utc)

    stored = store.get("alice", 1)
    assert stored == returned
    assert stored.user_key == "alice"
    assert stored.movie_id == 1
    assert stored.rating == 4.5
    assert stored.source == "conversation"
    assert stored.rated_at.tzinfo == timezone.utc
    assert before <= stored.rated_at <= after


def test_rate_converts_time_to_utc(store):
    plus_two = timezone(timedelta(hours=2))
    store.rate("alice", 7, 3, rated_at=datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=plus_two))

    stored = store.get("alice", 7)
    assert stored.rated_at == utc(2024, 5, 1, 10, 30, 15, 123456)
    assert stored.rated_at.utcoffset() == timedelta(0)
    assert stored.rating == 3.0


def test_rate_accepts_pandas_timestamp(store):
    store.rate("alice", 7, 3, rated_at=pd.Timestamp("2024-05-01 10:00:00", tz="UTC"))
    assert store.get("alice", 7).rated_at == utc(2024, 5, 1, 10)


def test_rerating_replaces_value_time_and_source(store):
    store.rate("alice", 1, 4.5, rated_at=utc(2024, 1, 1))
    store.rate("alice", 2, 1.0, rated_at=utc(2024, 1, 2))
    store.rate("alice", 1, 2, source="dataset", rated_at=utc(2024, 3, 1))

    stored = store.get("alice", 1)
    assert stored.rating == 2.0
    assert stored.source == "dataset"
    assert stored.rated_at == utc(2024, 3, 1)
    assert store.count() == 2
    assert store.count("alice") == 2
    assert store.get("alice", 2).rating == 1.0


def test_get_returns_none_for_missing_rating(store):
    store.rate("alice", 1, 4)
    assert store.get("alice", 2) is None
    assert store.get("bob", 1) is None


def test_ratings_for_lists_oldest_first(store):
    store.rate("alice", 30, 3.0, rated_at=utc(2024, 1, 3))
    store.rate("alice", 10, 1.0, rated_at=utc(2024, 1, 1))
    store.rate("alice", 20, 2.0, rated_at=utc(2024, 1, 2))
    store.rate("bob", 10, 5.0, rated_at=utc(2023, 1, 1))

    listed = store.ratings_for("alice")
    assert [(item.movie_id, item.rating) for item in listed] == [(10, 1.0), (20, 2.0), (30, 3.0)]
    assert [item.rated_at for item in listed] == [utc(2024, 1, 1), utc(2024, 1, 2), utc(2024, 1, 3)]

    store.rate("alice", 10, 4.0, rated_at=utc(2024, 2, 1))
    assert [item.movie_id for item in store.ratings_for("alice")] == [20, 30, 10]


def test_ratings_for_breaks_time_ties_by_first_rating(store):
    moment = utc(2024, 1, 1)
    for movie_id in (5, 3, 9):
        store.rate("alice", movie_id, 3, rated_at=moment)
    assert [item.movie_id for item in store.ratings_for("alice")] == [5, 3, 9]


def test_ratings_for_unknown_user_is_empty(store):
    assert store.ratings_for("nobody") == []


def test_stored_rating_converts_to_rated_movie(store):
    stored = store.rate("alice", 3, 3.5, rated_at=utc(2001, 9, 9, 1, 46, 40))
    assert stored.as_rated_movie() == RatedMovie(movie_id=3, rating=3.5, timestamp=1_000_000_000.0)


def test_user_keys_keep_case_and_spaces(store):
    store.rate("Alice", 1, 1)
    store.rate("alice", 1, 2)
    store.rate(" alice", 1, 3)
    assert store.get("Alice", 1).rating == 1.0
    assert store.get("alice", 1).rating == 2.0
    assert store.get(" alice", 1).rating == 3.0


def test_user_key_at_maximum_length_round_trips(store):
    key = "k" * 255
    store.rate(key, 1, 5)
    assert store.get(key, 1).user_key == key


# --- rejected input -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 5.5, 3.3, math.nan, math.inf, "4.5", True])
def test_rate_rejects_bad_value_and_stores_nothing(store, value):
    with pytest.raises(InvalidRatingError) as raised:
        store.rate("alice", 1, value)
    assert ACCEPTED_TEXT in str(raised.value)
    assert store.count() == 0
    assert store.ratings_for("alice") == []


@pytest.mark.parametrize(
    "user_key, reason",
    [("", "empty"), ("   ", "empty"), (None, "expected a string"), (42, "expected a string"),
     ("k" * 256, "maximum is 255"), ("a\x00b", "NUL")],
)
def test_rate_rejects_bad_user_key(store, user_key, reason):
    with pytest.raises(StoreInputError) as raised:
        store.rate(user_key, 1, 4)
    assert reason in str(raised.value)
    assert store.count() == 0


@pytest.mark.parametrize("movie_id", [0, -1, 1.0, "5", None, True, 2**31])
def test_rate_rejects_bad_movie_id(store, movie_id):
    with pytest.raises(StoreInputError) as raised:
        store.rate("alice", movie_id, 4)
    assert "Invalid movie id" in str(raised.value)
    assert store.count() == 0


def test_rate_accepts_largest_and_numpy_movie_ids(store):
    store.rate("alice", 2**31 - 1, 4)
    store.rate("alice", np.int64(7), 4)
    assert {item.movie_id for item in store.ratings_for("alice")} == {2**31 - 1, 7}


@pytest.mark.parametrize("source", ["chat", "", None, "Dataset"])
def test_rate_rejects_bad_source(store, source):
    with pytest.raises(StoreInputError) as raised:
        store.rate("alice", 1, 4, source=source)
    assert "'conversation', 'dataset'" in str(raised.value)
    assert store.count() == 0


@pytest.mark.parametrize("moment", [datetime(2024, 1, 1), "2024-01-01T00:00:00Z", 1_700_000_000])
def test_rate_rejects_naive_or_non_datetime_time(store, moment):
    with pytest.raises(StoreInputError) as raised:
        store.rate("alice", 1, 4, rated_at=moment)
    assert "time zone" in str(raised.value)
    assert store.count() == 0


def test_read_methods_validate_arguments(store):
    with pytest.raises(StoreInputError):
        store.get("", 1)
    with pytest.raises(StoreInputError):
        store.get("alice", 0)
    with pytest.raises(StoreInputError):
        store.ratings_for(None)
    with pytest.raises(StoreInputError):
        store.all_ratings(source="chat")
    with pytest.raises(StoreInputError):
        store.count(source="chat")


# --- delete ---------------------------------------------------------------------------------------


def test_delete_removes_one_rating(store):
    store.rate("alice", 1, 4)
    store.rate("alice", 2, 3)
    store.rate("bob", 1, 5)

    assert store.delete("alice", 1) is True
    assert store.get("alice", 1) is None
    assert store.delete("alice", 1) is False
    assert store.get("alice", 2).rating == 3.0
    assert store.get("bob", 1).rating == 5.0
    assert store.count() == 2


def test_delete_for_unknown_user_returns_false(store):
    assert store.delete("nobody", 1) is False


def test_delete_all_returns_count_and_keeps_others(store):
    for movie_id in (1, 2, 3):
        store.rate("alice", movie_id, 4)
    store.rate("bob", 1, 2)
    store.mark("alice", 9, "seen")

    assert store.delete_all("alice") == 3
    assert store.ratings_for("alice") == []
    assert store.delete_all("alice") == 0
    assert store.delete_all("nobody") == 0
    assert store.count() == 1
    assert store.marked("alice") == {9}


def test_rating_again_after_delete_all(store):
    store.rate("alice", 1, 4)
    store.delete_all("alice")
    store.rate("alice", 1, 1.5)
    assert store.get("alice", 1).rating == 1.5


def test_delete_user_cascades_to_ratings_and_marks(store):
    store.rate("alice", 1, 4)
    store.rate("alice", 2, 5)
    store.mark("alice", 3, "not_interested")
    store.rate("bob", 1, 2)

    assert store.delete_user("alice") is True
    assert store.delete_user("alice") is False
    assert store.count() == 1
    assert store.count("alice") == 0
    assert store.marked("alice") == set()
    # The rows really went with the user, not just out of the joined views.
    with store._engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM ratings")).scalar_one() == 1
        assert connection.execute(text("SELECT COUNT(*) FROM movie_marks")).scalar_one() == 0


# --- frames and import ----------------------------------------------------------------------------


def test_all_ratings_frame_columns_and_values(store):
    store.rate("bob", 5, 2.5, rated_at=utc(2001, 9, 9, 1, 46, 40, 500000))
    store.rate("alice", 2, 4.0, source="dataset", rated_at=utc(1970, 1, 2))
    store.rate("alice", 1, 3.5, rated_at=utc(1970, 1, 1, 0, 0, 1))

    frame = store.all_ratings()
    assert list(frame.columns) == ["user_key", "movie_id", "rating", "timestamp", "source"]
    assert str(frame["movie_id"].dtype) == "int64"
    assert str(frame["rating"].dtype) == "float32"
    assert str(frame["timestamp"].dtype) == "float64"
    assert frame.to_dict("records") == [
        {"user_key": "alice", "movie_id": 1, "rating": 3.5, "timestamp": 1.0, "source": "conversation"},
        {"user_key": "alice", "movie_id": 2, "rating": 4.0, "timestamp": 86400.0, "source": "dataset"},
        {"user_key": "bob", "movie_id": 5, "rating": 2.5, "timestamp": 1_000_000_000.5, "source": "conversation"},
    ]


def test_all_ratings_filters_by_source(store):
    store.rate("alice", 1, 3.5)
    store.rate("alice", 2, 4.0, source="dataset")
    assert store.all_ratings(source="dataset")["movie_id"].tolist() == [2]
    assert store.all_ratings(source="conversation")["movie_id"].tolist() == [1]
    assert store.count(source="dataset") == 1


def test_all_ratings_of_empty_store_has_columns(store):
    frame = store.all_ratings()
    assert frame.empty
    assert list(frame.columns) == ["user_key", "movie_id", "rating", "timestamp", "source"]
    assert str(frame["movie_id"].dtype) == "int64"
    assert str(frame["timestamp"].dtype) == "float64"


def dataset_frame() -> pd.DataFrame:
    """A small ratings frame in load_dataset's layout; user 2 rates movie 20 twice."""
    return pd.DataFrame({
        "user_id": np.array([1, 1, 2, 2, 2, 3, 2], dtype="int64"),
        "movie_id": np.array([10, 20, 10, 20, 30, 10, 20], dtype="int64"),
        "rating": np.array([4.0, 3.5, 5.0, 1.0, 2.5, 0.5, 4.5], dtype="float32"),
        "timestamp": np.array([100, 200, 300, 400, 500, 600, 350], dtype="int64"),
    })


def test_import_dataset_stores_rows_with_prefix(store):
    progress: list[int] = []
    count = store.import_dataset(dataset_frame(), "ml:", chunk_size=2, progress=progress.append)

    assert count == 6
    assert sum(progress) == 6
    assert progress == [2, 2, 2]
    frame = store.all_ratings()
    assert frame.to_dict("records") == [
        {"user_key": "ml:1", "movie_id": 10, "rating": 4.0, "timestamp": 100.0, "source": "dataset"},
        {"user_key": "ml:1", "movie_id": 20, "rating": 3.5, "timestamp": 200.0, "source": "dataset"},
        {"user_key": "ml:2", "movie_id": 10, "rating": 5.0, "timestamp": 300.0, "source": "dataset"},
        # The later of user 2's two ratings of movie 20 (timestamp 400, not 350) is kept.
        {"user_key": "ml:2", "movie_id": 20, "rating": 1.0, "timestamp": 400.0, "source": "dataset"},
        {"user_key": "ml:2", "movie_id": 30, "rating": 2.5, "timestamp": 500.0, "source": "dataset"},
        {"user_key": "ml:3", "movie_id": 10, "rating": 0.5, "timestamp": 600.0, "source": "dataset"},
    ]
    assert store.get("ml:2", 20).rated_at == utc(1970, 1, 1, 0, 6, 40)


def test_import_dataset_twice_stores_each_rating_once(store):
    store.rate("ml:1", 10, 2.0, rated_at=utc(2024, 1, 1))
    store.rate("alice", 10, 3.0)
    store.import_dataset(dataset_frame(), "ml:")
    store.import_dataset(dataset_frame(), "ml:")

    assert store.count() == 7
    assert store.count(source="dataset") == 6
    replaced = store.get("ml:1", 10)
    assert (replaced.rating, replaced.source, replaced.rated_at) == (4.0, "dataset", utc(1970, 1, 1, 0, 1, 40))
    assert store.get("alice", 10).rating == 3.0


def test_import_dataset_accepts_fractional_timestamps(store):
    frame = dataset_frame().astype({"timestamp": "float64"})
    frame.loc[0, "timestamp"] = 100.25
    store.import_dataset(frame, "u")
    assert store.get("u1", 10).rated_at == utc(1970, 1, 1, 0, 1, 40, 250000)


def test_import_empty_frame_stores_nothing(store):
    assert store.import_dataset(dataset_frame().iloc[0:0], "ml:") == 0
    assert store.count() == 0


@pytest.mark.parametrize(
    "change, error, message",
    [
        (lambda f: f.drop(columns="timestamp"), StoreInputError, "missing column(s) timestamp"),
        (lambda f: f.assign(rating=f["rating"].where(f.index != 4, 5.5)), InvalidRatingError, "row 4"),
        (lambda f: f.assign(rating=f["rating"].where(f.index != 3, np.nan)), InvalidRatingError, "row 3"),
        (lambda f: f.assign(movie_id=f["movie_id"].where(f.index != 2, 0)), StoreInputError, "movie id 0 at row 2"),
        (lambda f: f.assign(user_id=f["user_id"].astype("float64")), StoreInputError, "column user_id"),
        (lambda f: f.assign(timestamp=f["timestamp"].astype("float64").where(f.index != 1, np.nan)), StoreInputError, "row 1"),
        (lambda f: f.assign(rating=f["rating"].astype(str)), InvalidRatingError, "row 0"),
    ],
)
def test_import_dataset_rejects_bad_frame_and_stores_nothing(store, change, error, message):
    with pytest.raises(error) as raised:
        store.import_dataset(change(dataset_frame()), "ml:")
    assert message in str(raised.value)
    assert store.count() == 0


def test_import_dataset_rejects_too_long_prefix(store):
    with pytest.raises(StoreInputError) as raised:
        store.import_dataset(dataset_frame(), "p" * 255)
    assert "maximum is 255" in str(raised.value)
    assert store.count() == 0


# --- marks ----------------------------------------------------------------------------------------


def test_mark_and_marked_by_kind(store):
    assert store.mark("alice", 1, "seen") is True
    assert store.mark("alice", 1, "seen") is False
    assert store.mark("alice", 1, "not_interested") is True
    assert store.mark("alice", 2, "not_interested") is True
    assert store.mark("bob", 3, "seen") is True

    assert store.marked("alice") == {1, 2}
    assert store.marked("alice", "seen") == {1}
    assert store.marked("alice", ["not_interested"]) == {1, 2}
    assert store.marked("alice", ("seen", "not_interested")) == {1, 2}
    assert store.marked("nobody") == set()
    assert store.count() == 0


def test_unmark_removes_one_or_every_kind(store):
    store.mark("alice", 1, "seen")
    store.mark("alice", 1, "not_interested")
    store.mark("alice", 2, "seen")

    assert store.unmark("alice", 1, "seen") == 1
    assert store.marked("alice", "seen") == {2}
    assert store.unmark("alice", 1, "seen") == 0
    store.mark("alice", 1, "seen")
    assert store.unmark("alice", 1) == 2
    assert store.marked("alice") == {2}


def test_clear_marks_returns_count(store):
    store.mark("alice", 1, "seen")
    store.mark("alice", 2, "not_interested")
    store.mark("alice", 3, "not_interested")
    store.mark("bob", 1, "seen")
    store.rate("alice", 1, 4)

    assert store.clear_marks("alice", "not_interested") == 2
    assert store.marked("alice") == {1}
    assert store.clear_marks("alice") == 1
    assert store.clear_marks("alice") == 0
    assert store.marked("bob") == {1}
    assert store.get("alice", 1).rating == 4.0


@pytest.mark.parametrize("kind", ["watched", "", None, "SEEN"])
def test_mark_rejects_bad_kind(store, kind):
    with pytest.raises(StoreInputError) as raised:
        store.mark("alice", 1, kind)
    assert "'seen', 'not_interested'" in str(raised.value)
    with pytest.raises(StoreInputError):
        store.marked("alice", [kind])
    assert store.marked("alice") == set()


# --- portable upsert path -------------------------------------------------------------------------


def test_portable_upsert_matches_native(store):
    # The portable path serves dialects without ON CONFLICT; switching it on here runs it on
    # the two backends that the tests have.
    store._native = None
    store.rate("alice", 1, 4)
    store.rate("alice", 1, 2.5, source="dataset", rated_at=utc(2024, 1, 1))
    assert store.mark("alice", 1, "seen") is True
    assert store.mark("alice", 1, "seen") is False
    store.import_dataset(dataset_frame(), "ml:", chunk_size=4)
    store.import_dataset(dataset_frame(), "ml:", chunk_size=4)

    stored = store.get("alice", 1)
    assert (stored.rating, stored.source, stored.rated_at) == (2.5, "dataset", utc(2024, 1, 1))
    assert store.count() == 7
    assert store.get("ml:2", 20).rating == 1.0
    assert store.marked("alice") == {1}


def test_portable_upsert_with_racing_threads(store_url):
    store = RatingsStore(store_url)
    store._native = None
    threads = 6
    barrier = threading.Barrier(threads)
    failures: list[BaseException] = []

    def write(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            for movie_id in range(1, 11):
                store.rate("racer", movie_id, ACCEPTED_RATINGS[movie_id % 10])
                store.rate(f"new-{movie_id}", 1, 2.0)
                store.mark("racer", movie_id, "seen")
        except BaseException as error:  # reported below
            failures.append(error)

    workers = [threading.Thread(target=write, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    try:
        assert failures == []
        assert store.count("racer") == 10
        # Listing is ordered by rating time, which the racing threads interleave, so compare by movie.
        stored = {item.movie_id: item.rating for item in store.ratings_for("racer")}
        assert stored == {movie_id: ACCEPTED_RATINGS[movie_id % 10] for movie_id in range(1, 11)}
        assert store.count() == 20
        assert store.marked("racer") == set(range(1, 11))
    finally:
        store.close()


# --- concurrency ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_concurrent_threads_and_processes_lose_nothing(store_url):
    """Three spawned processes and this one, each with three threads on a shared store, write at once."""
    processes, threads, seed = 3, 3, 20241204
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    errors = context.Queue()
    children = [
        context.Process(target=store_workers.run_writer_process, args=(store_url, index, threads, seed, barrier, errors))
        for index in range(processes)
    ]
    for child in children:
        child.start()
    try:
        store_workers.run_writers(store_url, processes, threads, seed, barrier)
    finally:
        for child in children:
            child.join(timeout=300)
    reported = []
    while not errors.empty():
        reported.append(errors.get())
    assert reported == []
    assert [child.exitcode for child in children] == [0] * processes

    expected = store_workers.expected_ratings(processes + 1, threads)
    store = RatingsStore(store_url)
    try:
        frame = store.all_ratings()
        pairs = list(zip(frame["user_key"], frame["movie_id"].tolist()))
        assert len(pairs) == len(set(pairs)), "a (user, movie) pair is stored twice"
        assert set(pairs) == set(expected)
        assert store.count() == len(expected) == 4 * 3 * 10 + 10 + 5 + 5
        for (user_key, movie_id), allowed in expected.items():
            stored = store.get(user_key, movie_id)
            assert stored.rating in allowed, f"{user_key} movie {movie_id}: {stored.rating} not in {sorted(allowed)}"
        with store._engine.connect() as connection:
            user_rows = connection.execute(text("SELECT user_key FROM users")).scalars().all()
        assert sorted(user_rows) == sorted({user_key for user_key, _ in expected})
    finally:
        store.close()


def test_threads_share_one_store(store):
    threads = 8
    barrier = threading.Barrier(threads)
    failures: list[BaseException] = []

    def write(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            for movie_id in range(1, 21):
                store.rate(f"thread-{index}", movie_id, ACCEPTED_RATINGS[(index + movie_id) % 10])
                store.rate("everyone", movie_id, ACCEPTED_RATINGS[movie_id % 10])
        except BaseException as error:  # reported below
            failures.append(error)

    workers = [threading.Thread(target=write, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    assert store.count() == threads * 20 + 20
    for index in range(threads):
        ratings = store.ratings_for(f"thread-{index}")
        assert sorted((item.movie_id, item.rating) for item in ratings) == [
            (movie_id, ACCEPTED_RATINGS[(index + movie_id) % 10]) for movie_id in range(1, 21)
        ]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_store_created_before_fork_works_in_child(store):
    store.rate("parent", 1, 4)
    context = multiprocessing.get_context("fork")
    errors = context.Queue()
    child = context.Process(target=store_workers.rate_after_fork, args=(store, "child", 2, 3.5, errors))
    child.start()
    child.join(timeout=120)
    assert errors.empty()
    assert child.exitcode == 0
    assert store.get("child", 2).rating == 3.5
    store.rate("parent", 3, 5)
    assert [item.movie_id for item in store.ratings_for("parent")] == [1, 3]


# --- engine set-up ----------------------------------------------------------------------------------


def test_sqlite_connection_settings(tmp_path):
    path = tmp_path / "nested" / "folder" / "ratings.db"
    with RatingsStore(f"sqlite:///{path}", busy_timeout=12.5) as store:
        store.rate("alice", 1, 4)
        with store._engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 12500
    assert path.is_file()
    with sqlite3.connect(path) as raw:
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"users", "ratings", "movie_marks"}


def test_default_url_comes_from_settings(tmp_path, monkeypatch):
    monkeypatch.delenv("RECENGINE_DATABASE_URL", raising=False)
    monkeypatch.setenv("RECENGINE_VAR_DIR", str(tmp_path / "state"))
    with RatingsStore() as store:
        store.rate("alice", 1, 4)
        assert store.url == f"sqlite:///{tmp_path / 'state' / 'ratings.db'}"
    assert (tmp_path / "state" / "ratings.db").is_file()
    with RatingsStore(f"sqlite:///{tmp_path / 'state' / 'ratings.db'}") as reopened:
        assert reopened.get("alice", 1).rating == 4.0


def test_in_memory_sqlite_is_shared_by_threads():
    with RatingsStore("sqlite://") as store:
        workers = [
            threading.Thread(target=lambda index=index: [store.rate(f"t{index}", m, 3) for m in range(1, 11)])
            for index in range(4)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert store.count() == 40
        assert store.count("t3") == 10


@pytest.mark.parametrize("url", ["not a url", "", "nosuchdialect://host/db"])
def test_invalid_url_raises_store_unavailable(url):
    with pytest.raises(StoreUnavailableError) as raised:
        RatingsStore(url)
    assert "URL" in str(raised.value)


def test_unreachable_server_raises_store_unavailable():
    with pytest.raises(StoreUnavailableError) as raised:
        RatingsStore("postgresql://nobody@127.0.0.1:1/nothing")
    assert "Cannot open the ratings database postgresql://nobody@127.0.0.1:1/nothing" in str(raised.value)
    assert "Check the URL" in str(raised.value)


def test_url_hides_password():
    store = None
    with pytest.raises(StoreUnavailableError) as raised:
        store = RatingsStore("postgresql://user:secret@127.0.0.1:1/nothing")
    assert store is None
    assert "secret" not in str(raised.value)
    assert "user:***@" in str(raised.value)


def test_locked_sqlite_raises_store_unavailable(tmp_path):
    url = f"sqlite:///{tmp_path / 'ratings.db'}"
    with RatingsStore(url, busy_timeout=0.2) as store:
        store.rate("alice", 1, 4)
        holder = sqlite3.connect(tmp_path / "ratings.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreUnavailableError) as raised:
                store.rate("alice", 2, 3)
            assert "database is locked" in str(raised.value)
            assert "Retry it" in str(raised.value)
            assert store.get("alice", 1).rating == 4.0
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        store.rate("alice", 2, 3)
        assert store.count() == 2


def test_closed_store_raises(tmp_path):
    store = RatingsStore(f"sqlite:///{tmp_path / 'ratings.db'}")
    store.close()
    store.close()
    with pytest.raises(RuntimeError) as raised:
        store.rate("alice", 1, 4)
    assert "closed" in str(raised.value)


def test_tables_are_created_by_first_store(store_url):
    with RatingsStore(store_url) as first:
        first.rate("alice", 1, 4)
    with RatingsStore(store_url) as second:
        assert second.get("alice", 1).rating == 4.0


# --- command line -----------------------------------------------------------------------------------


@pytest.fixture
def tiny_dataset(tmp_path) -> Path:
    """A three-movie MovieLens folder, so the command line tests load a catalog in milliseconds."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "movies.csv").write_text(
        "movieId,title,genres\n1,Toy Story (1995),Animation|Comedy\n2,Jumanji (1995),Adventure\n3,Heat (1995),Crime\n"
    )
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n2,2,3.0,964982224\n"
    )
    return folder


def run_cli(capsys, *arguments: str) -> tuple[int, str, str]:
    status = main(list(arguments))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_add_list_and_delete(capsys, store_url, tiny_dataset):
    database = ("--database", store_url)
    status, out, _ = run_cli(capsys, "ratings", "add", *database, "--user", "alice", "--movie", "3", "--rating", "4.5", "--dataset", str(tiny_dataset))
    assert status == 0
    assert "User 'alice' rated Heat (1995) (movie 3) 4.5." in out

    status, out, _ = run_cli(capsys, "ratings", "add", *database, "--user", "alice", "--movie", "3", "--rating", "2", "--dataset", str(tiny_dataset))
    assert status == 0
    assert "2.0 (replacing 4.5)" in out
    run_cli(capsys, "ratings", "add", *database, "--user", "alice", "--movie", "1", "--rating", "1,5", "--dataset", str(tiny_dataset))

    status, out, _ = run_cli(capsys, "ratings", "list", *database, "--user", "alice", "--dataset", str(tiny_dataset))
    assert status == 0
    lines = out.splitlines()
    assert "Heat (1995)" in lines[1]
    assert "2.0" in lines[1]
    assert "conversation" in lines[1]
    assert "Toy Story (1995)" in lines[2]
    assert "1.5" in lines[2]
    assert lines[-1] == "2 rating(s), oldest first."

    status, out, _ = run_cli(capsys, "ratings", "delete", *database, "--user", "alice", "--movie", "3")
    assert (status, out.strip()) == (0, "Deleted the rating of movie 3 by user 'alice'.")
    status, out, _ = run_cli(capsys, "ratings", "delete", *database, "--user", "alice", "--movie", "3")
    assert (status, out.strip()) == (0, "User 'alice' has no rating of movie 3; nothing deleted.")
    status, out, _ = run_cli(capsys, "ratings", "delete", *database, "--user", "alice", "--all")
    assert (status, out.strip()) == (0, "Deleted 1 rating(s) of user 'alice'.")
    status, out, _ = run_cli(capsys, "ratings", "list", *database, "--user", "alice", "--no-titles")
    assert (status, out.strip()) == (0, "User 'alice' has no ratings.")


def test_cli_import(capsys, store_url, tiny_dataset):
    status, out, _ = run_cli(capsys, "ratings", "import", str(tiny_dataset), "--prefix", "tiny:", "--database", store_url, "--quiet")
    assert status == 0
    assert "Stored 3 ratings of 2 tiny users as tiny:<user id>" in out
    with RatingsStore(store_url) as store:
        assert store.count(source="dataset") == 3
        assert store.get("tiny:1", 3).rating == 4.5
        assert store.get("tiny:1", 3).rated_at == datetime.fromtimestamp(964981247, timezone.utc)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (("--movie", "2", "--rating", "5.5"), "Invalid rating '5.5'"),
        (("--movie", "2", "--rating", "great"), "Invalid rating 'great'"),
        (("--movie", "99", "--rating", "4"), "Movie id 99 is not in the tiny catalog (3 movies)"),
    ],
)
def test_cli_add_rejects_bad_input_with_status_2(capsys, tmp_path, tiny_dataset, arguments, message):
    url = f"sqlite:///{tmp_path / 'ratings.db'}"
    status, out, err = run_cli(capsys, "ratings", "add", "--database", url, "--user", "alice", *arguments, "--dataset", str(tiny_dataset))
    assert status == 2
    assert message in err
    assert out == ""
    with RatingsStore(url) as store:
        assert store.count() == 0


def test_cli_rejects_bad_database_url_with_status_2(capsys):
    status, _, err = run_cli(capsys, "ratings", "list", "--database", "not a url", "--user", "alice")
    assert status == 2
    assert "Invalid database URL 'not a url'" in err


def test_cli_rejects_non_numeric_movie_id(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["ratings", "delete", "--user", "alice", "--movie", "x"])
    assert raised.value.code == 2
    assert "invalid movie id 'x'" in capsys.readouterr().err
