"""Per-user movie ratings and "seen" / "not interested" marks in a SQL database.

:class:`RatingsStore` keeps the ratings that people give in conversation (and, when imported, the
dataset's own ratings) so that the next recommendation for that person uses them. It takes any
SQLAlchemy URL, and the tests run on SQLite and PostgreSQL. The default is
``get_settings().database_url``: ``RECENGINE_DATABASE_URL``, else the file ``var/ratings.db``.

Rules the store enforces:

- a rating is 0.5 to 5 stars in half steps, a rule written down only in :func:`validate_rating`;
- rating a movie again replaces the earlier rating, its time and its source;
- every call runs in its own short transaction on a connection from the store's own pool, so one
  store object may be shared by threads, and several processes may write to one database at once
  without losing a rating;
- SQLite runs in WAL mode with a busy timeout and foreign keys on, and every write transaction
  starts with ``BEGIN IMMEDIATE``: a writer waits for the lock up to the timeout instead of failing
  when another writer commits first;
- times are UTC: the store returns timezone-aware datetimes and rejects naive ones.

Tables (created on first use): ``users`` (one row per user key), ``ratings`` (one row per user and
movie) and ``movie_marks`` (one row per user, movie and kind of mark).
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterable, Iterator, NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, InterfaceError, NoSuchModuleError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import declarative_base
from sqlalchemy.pool import QueuePool, StaticPool
from sqlalchemy.types import TypeDecorator

from recengine.config import get_settings
from recengine.errors import InvalidRatingError, RecEngineError
from recengine.recommender import RatedMovie

__all__ = [
    "ACCEPTED_RATINGS",
    "MARK_KINDS",
    "MAX_MOVIE_ID",
    "MAX_USER_KEY_LENGTH",
    "SOURCES",
    "Base",
    "MovieMarkRecord",
    "RatingRecord",
    "RatingsStore",
    "StoreInputError",
    "StoreUnavailableError",
    "StoredRating",
    "UserRecord",
    "parse_rating",
    "validate_rating",
]

log = logging.getLogger(__name__)

ACCEPTED_RATINGS: tuple[float, ...] = tuple(step / 2 for step in range(1, 11))
"""Every rating the store accepts: 0.5, 1.0, … 5.0."""
SOURCES = ("conversation", "dataset")
"""Where a rating came from: given in a chat, or imported from a MovieLens dataset."""
MARK_KINDS = ("seen", "not_interested")
"""Marks that keep a movie out of a user's suggestions."""
MAX_USER_KEY_LENGTH = 255
MAX_MOVIE_ID = 2**31 - 1
"""The largest value of the 32-bit ``INTEGER`` column that stores movie ids."""

_ACCEPTED_TEXT = "ratings go from 0.5 to 5 stars in steps of 0.5 (accepted: 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5)"
_BEGIN_OPTION = "recengine_sqlite_begin"
# Execution option that marks an executemany whose rows never share a conflict key.
_UNIQUE_ROWS_OPTION = "recengine_unique_rows"
# Key of the PostgreSQL advisory lock taken while creating tables, so that processes starting
# together do not race on CREATE TABLE ("rece" in ASCII).
_SCHEMA_LOCK_KEY = 0x72656365
# How often get-or-create retries when the user row is deleted between its insert and its select.
_USER_CREATE_ATTEMPTS = 5
# Maximum number of user keys in one IN (...) list; well under SQLite's bound-parameter limit.
_KEYS_PER_QUERY = 500
# 1970-01-01 as a naive UTC datetime, the form in which all_ratings() reads stored times.
_NAIVE_EPOCH = datetime(1970, 1, 1)


class StoreInputError(RecEngineError, ValueError):
    """An argument of the ratings store other than the rating value is invalid.

    This covers the user key, movie id, source, mark kind, time and an imported frame's columns.
    Invalid rating values raise :class:`~recengine.errors.InvalidRatingError` instead.
    """


class StoreUnavailableError(RecEngineError):
    """The ratings database cannot be opened or used: bad URL, server down, or locked too long."""


# --- validation ---------------------------------------------------------------------------------


def validate_rating(value: object) -> float:
    """Return ``value`` as a float when it is a valid rating, else raise InvalidRatingError.

    Valid ratings are the numbers 0.5, 1, 1.5, … 5 (ints, floats, numpy numbers, Decimal or
    Fraction). Strings, booleans, NaN, infinities, numbers off the half-star grid and numbers
    outside 0.5–5 are rejected with a message listing the accepted values.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, Decimal)):
        raise InvalidRatingError(f"Invalid rating {value!r}: expected a number; {_ACCEPTED_TEXT}.")
    number = float(value)
    # The equality check catches Decimal or Fraction values that float() would round onto the grid.
    on_grid = math.isfinite(number) and number == value and (number * 2).is_integer()
    if not on_grid or not 1 <= number * 2 <= 10:
        raise InvalidRatingError(f"Invalid rating {value!r}: {_ACCEPTED_TEXT}.")
    return number


def parse_rating(text: str) -> float:
    """Convert typed text such as ``"4.5"``, ``" 3 "`` or ``"3,5"`` to a validated rating.

    Raises InvalidRatingError, naming the text and the accepted values, when the text is not a
    number or the number is not a valid rating.
    """
    if not isinstance(text, str):
        return validate_rating(text)
    try:
        number = float(text.strip().replace(",", "."))
    except ValueError:
        raise InvalidRatingError(f"Invalid rating {text!r}: expected a number; {_ACCEPTED_TEXT}.") from None
    try:
        return validate_rating(number)
    except InvalidRatingError:
        raise InvalidRatingError(f"Invalid rating {text!r}: {_ACCEPTED_TEXT}.") from None


def _validate_user_key(user_key: object) -> str:
    if not isinstance(user_key, str):
        raise StoreInputError(f"Invalid user key {user_key!r}: expected a string such as a chat sender id.")
    if not user_key.strip():
        raise StoreInputError(f"Invalid user key {user_key!r}: it is empty or only white space.")
    if len(user_key) > MAX_USER_KEY_LENGTH:
        raise StoreInputError(
            f"Invalid user key of {len(user_key)} characters: the maximum is {MAX_USER_KEY_LENGTH}."
        )
    if "\x00" in user_key:
        raise StoreInputError(f"Invalid user key {user_key!r}: it contains a NUL character.")
    return user_key


def _validate_movie_id(movie_id: object) -> int:
    if isinstance(movie_id, (bool, np.bool_)) or not isinstance(movie_id, numbers.Integral):
        raise StoreInputError(f"Invalid movie id {movie_id!r}: expected a positive integer.")
    if not 1 <= movie_id <= MAX_MOVIE_ID:
        raise StoreInputError(f"Invalid movie id {movie_id!r}: expected an integer from 1 to {MAX_MOVIE_ID}.")
    return int(movie_id)


def _validate_source(source: object) -> str:
    if source not in SOURCES:
        raise StoreInputError(f"Invalid rating source {source!r}: expected one of {', '.join(map(repr, SOURCES))}.")
    return str(source)


def _validate_kinds(kinds: str | Iterable[str] | None) -> tuple[str, ...]:
    """Return the mark kinds to act on: all of them for None, else the validated kinds given."""
    if kinds is None:
        return MARK_KINDS
    chosen = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    for kind in chosen:
        if kind not in MARK_KINDS:
            raise StoreInputError(f"Invalid mark kind {kind!r}: expected one of {', '.join(map(repr, MARK_KINDS))}.")
    return chosen


def _validate_time(moment: object) -> datetime:
    """Return an aware datetime converted to UTC; reject naive datetimes and other types."""
    if isinstance(moment, pd.Timestamp):
        moment = moment.to_pydatetime()
    if not isinstance(moment, datetime):
        raise StoreInputError(f"Invalid rating time {moment!r}: expected a datetime with a time zone.")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise StoreInputError(
            f"Invalid rating time {moment.isoformat()}: it has no time zone; "
            "pass an aware datetime such as datetime.now(timezone.utc)."
        )
    return moment.astimezone(timezone.utc)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


# --- tables -------------------------------------------------------------------------------------


class _UTCDateTime(TypeDecorator):
    """A UTC instant stored as a timestamp without time zone, read back as an aware datetime.

    Storing naive UTC keeps SQLite (which has no time zone type) and PostgreSQL identical.
    Naive values reaching this type are taken as UTC already; the public methods reject naive
    datetimes before that.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None:
            value = value.replace(tzinfo=timezone.utc)
        return value


# The declarative base contains table definitions only; engines and connections belong to each store.
Base = declarative_base()


class UserRecord(Base):
    """A user of the store, identified by a key such as a chat sender id or ``ml:42``."""

    __tablename__ = "users"

    id = Column(Integer, primary_key=True)
    user_key = Column(String(MAX_USER_KEY_LENGTH), nullable=False, unique=True)
    created_at = Column(_UTCDateTime, nullable=False)


class RatingRecord(Base):
    """One user's current rating of one movie."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("user_id", "movie_id", name="uq_ratings_user_movie"),
        CheckConstraint("rating >= 0.5 AND rating <= 5", name="ck_ratings_scale"),
        CheckConstraint("source IN ('conversation', 'dataset')", name="ck_ratings_source"),
    )

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    movie_id = Column(Integer, nullable=False)
    rating = Column(Float, nullable=False)
    rated_at = Column(_UTCDateTime, nullable=False)
    source = Column(String(16), nullable=False)


class MovieMarkRecord(Base):
    """A movie a user has seen or is not interested in, kept out of their suggestions."""

    __tablename__ = "movie_marks"
    __table_args__ = (
        UniqueConstraint("user_id", "movie_id", "kind", name="uq_movie_marks_user_movie_kind"),
        CheckConstraint("kind IN ('seen', 'not_interested')", name="ck_movie_marks_kind"),
    )

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    movie_id = Column(Integer, nullable=False)
    kind = Column(String(16), nullable=False)
    marked_at = Column(_UTCDateTime, nullable=False)


@dataclass(frozen=True)
class StoredRating:
    """A rating as stored: who, which movie, how many stars, when (UTC) and from where."""

    user_key: str
    movie_id: int
    rating: float
    rated_at: datetime
    """Timezone-aware, in UTC."""
    source: str
    """``"conversation"`` or ``"dataset"``."""

    def as_rated_movie(self) -> RatedMovie:
        """Convert to the recommender's history item, with the time as seconds since 1970."""
        return RatedMovie(movie_id=self.movie_id, rating=self.rating, timestamp=self.rated_at.timestamp())


# --- engine set-up ------------------------------------------------------------------------------


def _is_memory_database(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in database


def _create_sqlite_engine(url: URL, busy_timeout: float) -> Engine:
    """Create a pooled SQLite engine whose connections use WAL, a busy timeout and foreign keys."""
    memory = _is_memory_database(url)
    if not memory and not url.query.get("uri"):
        folder = Path(url.database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreUnavailableError(f"Cannot create the folder {folder} for the ratings database: {error}.") from error
    # One in-memory database exists per connection, so every thread must share a single one
    # (StaticPool); the store then serialises calls with a lock. File databases get a real pool.
    engine = create_engine(
        url,
        future=True,
        poolclass=StaticPool if memory else QueuePool,
        connect_args={"check_same_thread": False, "timeout": busy_timeout},
    )

    @event.listens_for(engine, "connect")
    def _configure_connection(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy emits BEGIN itself (below); pysqlite's own implicit BEGIN would defer it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not memory:
                mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    log.warning("SQLite kept journal mode %s instead of WAL for %s; writers will block readers", mode, url.database)
                # In WAL mode NORMAL loses no committed data when a process crashes, only when
                # the machine loses power before the next checkpoint.
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Write transactions take the write lock at BEGIN. A deferred transaction that reads and
        # then writes fails at once with SQLITE_BUSY when another writer committed in between,
        # without waiting for the busy timeout.
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _create_postgresql_engine(url: URL) -> Engine:
    """Create a PostgreSQL engine that checks pooled connections before use."""
    engine = create_engine(url, future=True, pool_pre_ping=True)
    if engine.dialect.driver == "psycopg2":
        event.listen(engine, "do_executemany", _send_rows_in_pages)
    return engine


def _send_rows_in_pages(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    """Send an executemany of the store's upserts as INSERTs of 1,000 rows each (psycopg2).

    SQLAlchemy 1.4 batches plain INSERTs this way but sends INSERT … ON CONFLICT DO UPDATE one
    row per round trip, because a multi-row INSERT fails when two rows hit the same key. The
    store's callers never repeat a key within one call, and mark such calls with an execution
    option. Returns True when it executed the statement, False to leave it to SQLAlchemy.
    """
    compiled = context.compiled
    if not context.execution_options.get(_UNIQUE_ROWS_OPTION) or compiled is None or not compiled.insert_single_values_expr:
        return False
    template = f"({compiled.insert_single_values_expr})"
    if template not in statement:
        return False
    from psycopg2.extras import execute_values

    execute_values(cursor, statement.replace(template, "%s"), parameters, template=template, page_size=1000)
    return True


def _create_engine(url_text: str, busy_timeout: float) -> Engine:
    try:
        url = make_url(url_text)
    except ArgumentError as error:
        raise StoreUnavailableError(
            f"Invalid database URL {url_text!r}: expected an SQLAlchemy URL such as "
            "sqlite:///var/ratings.db or postgresql://user@127.0.0.1:5432/recengine."
        ) from error
    try:
        if url.get_backend_name() == "sqlite":
            return _create_sqlite_engine(url, busy_timeout)
        if url.get_backend_name() == "postgresql":
            return _create_postgresql_engine(url)
        return create_engine(url, future=True, pool_pre_ping=True)
    except NoSuchModuleError as error:
        raise StoreUnavailableError(f"Unsupported database URL {url!r}: SQLAlchemy has no dialect {url.drivername!r}.") from error
    except ImportError as error:
        raise StoreUnavailableError(f"The database driver for {url!r} is not installed: {error}.") from error


def _database_error_reason(error: Exception) -> str:
    original = getattr(error, "orig", None) or error
    return " ".join(str(original).split())


class _PreparedInsert:
    """A dialect's INSERT … ON CONFLICT construct, also compiled once into text that is cached.

    SQLAlchemy 1.4 does not cache the compiled SQL of the SQLite and PostgreSQL ``insert()``
    constructs, and compiling one costs more than the database work of storing one rating. So a
    single row runs as the precompiled text, and many rows run as one executemany of the
    construct. Callers must not repeat a conflict key within one call, because on PostgreSQL the
    rows are sent as multi-row INSERTs (see ``_send_rows_in_pages``), which reject such repeats.
    """

    def __init__(self, statement: Any, dialect: Any, column_keys: tuple[str, ...]) -> None:
        self.statement = statement
        # Named parameters (":user_id") are the form text() parses, whatever the driver uses;
        # for_executemany leaves out the RETURNING clause that nothing here reads.
        named_dialect = type(dialect)(paramstyle="named")
        sql = str(statement.compile(dialect=named_dialect, column_keys=list(column_keys), for_executemany=True))
        columns = statement.table.c
        self.text = text(sql).bindparams(*(bindparam(key, type_=columns[key].type) for key in column_keys))

    def execute(self, connection: Connection, rows: list[dict[str, Any]]) -> Any:
        """Insert ``rows``; the result's rowcount is reliable for a single row only."""
        if len(rows) == 1:
            return connection.execute(self.text, rows[0])
        return connection.execute(self.statement, rows, execution_options={_UNIQUE_ROWS_OPTION: True})


class _NativeInserts(NamedTuple):
    ratings: _PreparedInsert
    """Insert a rating or replace the stored rating of the same user and movie."""
    users: _PreparedInsert
    """Insert a user unless the key exists."""
    marks: _PreparedInsert
    """Insert a mark unless the same mark exists."""


def _prepare_native_inserts(dialect: Any) -> _NativeInserts | None:
    """Build the ON CONFLICT statements for SQLite or PostgreSQL; None for other dialects."""
    insert_for = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}.get(dialect.name)
    if insert_for is None:
        return None
    ratings = insert_for(RatingRecord)
    ratings = ratings.on_conflict_do_update(
        index_elements=["user_id", "movie_id"],
        set_={
            "rating": ratings.excluded.rating,
            "rated_at": ratings.excluded.rated_at,
            "source": ratings.excluded.source,
        },
    )
    users = insert_for(UserRecord).on_conflict_do_nothing(index_elements=["user_key"])
    marks = insert_for(MovieMarkRecord).on_conflict_do_nothing(index_elements=["user_id", "movie_id", "kind"])
    return _NativeInserts(
        ratings=_PreparedInsert(ratings, dialect, ("user_id", "movie_id", "rating", "rated_at", "source")),
        users=_PreparedInsert(users, dialect, ("user_key", "created_at")),
        marks=_PreparedInsert(marks, dialect, ("user_id", "movie_id", "kind", "marked_at")),
    )


# --- the store ----------------------------------------------------------------------------------


class RatingsStore:
    """Ratings and marks of every user, in the database at ``url``.

    ``url`` is any SQLAlchemy URL; None means ``get_settings().database_url``. For SQLite the
    parent folder of the file is created. ``busy_timeout`` is how many seconds a SQLite writer
    waits for another writer's lock before :class:`StoreUnavailableError` is raised.

    Create one store per process: the store owns its engine and connection pool, and each call
    runs in its own short transaction, so threads may share one store. A store used again after
    ``os.fork()`` drops the parent's connections and opens its own.
    """

    def __init__(self, url: str | None = None, *, busy_timeout: float = 30.0) -> None:
        url_text = url if url is not None else get_settings().database_url
        self._engine = _create_engine(url_text, busy_timeout)
        self._url = self._engine.url
        self._dialect = self._engine.dialect.name
        # None selects the portable (slower) upsert for dialects without ON CONFLICT.
        self._native: _NativeInserts | None = _prepare_native_inserts(self._engine.dialect)
        self._write_engine = self._engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        self._find_user = (
            select(UserRecord.id)
            .where(UserRecord.user_key == bindparam("user_key"))
            .with_for_update(read=True, key_share=True)
        )
        in_memory = self._dialect == "sqlite" and _is_memory_database(self._url)
        self._lock: ContextManager[Any] = threading.Lock() if in_memory else nullcontext()
        self._pid = os.getpid()
        self._closed = False
        self._create_tables()
        log.debug("Opened ratings store %r", self._url)

    # --- life cycle

    @property
    def url(self) -> str:
        """The database URL, with any password hidden."""
        return repr(self._url)

    def close(self) -> None:
        """Close every pooled connection; later calls raise RuntimeError."""
        if not self._closed:
            self._closed = True
            self._engine.dispose()

    def __enter__(self) -> "RatingsStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RatingsStore({self.url!r})"

    def _create_tables(self) -> None:
        try:
            with self._lock, self._write_engine.begin() as connection:
                if self._dialect == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
                Base.metadata.create_all(connection)
        except (OperationalError, InterfaceError) as error:
            self._engine.dispose()
            raise StoreUnavailableError(
                f"Cannot open the ratings database {self.url} ({_database_error_reason(error)}). "
                "Check the URL (RECENGINE_DATABASE_URL or --database) and that the database server is running."
            ) from error

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Connection]:
        """Run one transaction: committed when the block ends, rolled back when it raises."""
        if self._closed:
            raise RuntimeError(f"{self!r} is closed; create a new RatingsStore.")
        if os.getpid() != self._pid:
            # Connections inherited through fork belong to the parent: leave them to it.
            self._engine.dispose(close=False)
            self._pid = os.getpid()
        engine = self._write_engine if write else self._engine
        try:
            with self._lock, engine.begin() as connection:
                yield connection
        except (OperationalError, InterfaceError, PoolTimeoutError) as error:
            raise StoreUnavailableError(
                f"The ratings database {self.url} failed ({_database_error_reason(error)}). "
                "The call did not complete. Retry it (the store's writes replace rather than add, so a "
                "retry never stores a rating twice); if it keeps failing, check the database server or, "
                "for SQLite, which process keeps a long write transaction open."
            ) from error

    # --- ratings

    def rate(
        self,
        user_key: str,
        movie_id: int,
        value: float,
        source: str = "conversation",
        rated_at: datetime | None = None,
    ) -> StoredRating:
        """Store a rating, replacing the user's earlier rating of the same movie.

        ``rated_at`` must be timezone-aware; it defaults to now. Raises InvalidRatingError for a
        value off the 0.5–5 half-star scale and StoreInputError for a bad key, id, source or time.
        """
        user_key = _validate_user_key(user_key)
        movie_id = _validate_movie_id(movie_id)
        rating = validate_rating(value)
        source = _validate_source(source)
        moment = _validate_time(rated_at) if rated_at is not None else _utc_now()
        with self._transaction(write=True) as connection:
            user_id = self._user_id_for_write(connection, user_key)
            self._upsert_ratings(connection, [
                {"user_id": user_id, "movie_id": movie_id, "rating": rating, "rated_at": moment, "source": source},
            ])
        log.debug("User %r rated movie %d with %.1f (%s)", user_key, movie_id, rating, source)
        return StoredRating(user_key=user_key, movie_id=movie_id, rating=rating, rated_at=moment, source=source)

    def get(self, user_key: str, movie_id: int) -> StoredRating | None:
        """Return the user's rating of the movie, or None when there is none."""
        user_key = _validate_user_key(user_key)
        movie_id = _validate_movie_id(movie_id)
        query = self._ratings_query().where(UserRecord.user_key == user_key, RatingRecord.movie_id == movie_id)
        with self._transaction(write=False) as connection:
            row = connection.execute(query).one_or_none()
        return None if row is None else StoredRating(*row)

    def ratings_for(self, user_key: str) -> list[StoredRating]:
        """Return every rating of the user, oldest first (empty for an unknown user)."""
        user_key = _validate_user_key(user_key)
        query = (
            self._ratings_query()
            .where(UserRecord.user_key == user_key)
            .order_by(RatingRecord.rated_at, RatingRecord.id)
        )
        with self._transaction(write=False) as connection:
            rows = connection.execute(query).all()
        return [StoredRating(*row) for row in rows]

    def delete(self, user_key: str, movie_id: int) -> bool:
        """Delete the user's rating of the movie; return whether there was one."""
        user_key = _validate_user_key(user_key)
        movie_id = _validate_movie_id(movie_id)
        statement = delete(RatingRecord).where(
            RatingRecord.user_id.in_(self._user_id_query(user_key)),
            RatingRecord.movie_id == movie_id,
        )
        with self._transaction(write=True) as connection:
            deleted = connection.execute(statement).rowcount
        return deleted > 0

    def delete_all(self, user_key: str) -> int:
        """Delete every rating of the user and return how many there were; marks stay."""
        user_key = _validate_user_key(user_key)
        statement = delete(RatingRecord).where(RatingRecord.user_id.in_(self._user_id_query(user_key)))
        with self._transaction(write=True) as connection:
            deleted = connection.execute(statement).rowcount
        log.info("Deleted %d rating(s) of user %r", deleted, user_key)
        return deleted

    def delete_user(self, user_key: str) -> bool:
        """Delete the user with all their ratings and marks; return whether the user existed."""
        user_key = _validate_user_key(user_key)
        with self._transaction(write=True) as connection:
            # Ratings and marks go with the user row through ON DELETE CASCADE.
            deleted = connection.execute(delete(UserRecord).where(UserRecord.user_key == user_key)).rowcount
        return deleted > 0

    def count(self, user_key: str | None = None, source: str | None = None) -> int:
        """Return the number of stored ratings, optionally of one user and/or one source."""
        query = select(func.count()).select_from(RatingRecord)
        if user_key is not None:
            query = query.where(RatingRecord.user_id.in_(self._user_id_query(_validate_user_key(user_key))))
        if source is not None:
            query = query.where(RatingRecord.source == _validate_source(source))
        with self._transaction(write=False) as connection:
            return int(connection.execute(query).scalar_one())

    def all_ratings(self, source: str | None = None) -> pd.DataFrame:
        """Return every rating (or those of one source) as a frame for retraining.

        Columns: ``user_key`` (str), ``movie_id`` (int64), ``rating`` (float32, as in
        :func:`recengine.movielens.load_dataset`), ``timestamp`` (float64 seconds since 1970, UTC)
        and ``source``. Rows are ordered by user key, then time.
        """
        # Reading the time as naive UTC skips a per-row conversion to an aware datetime, which
        # is a large share of the cost for frames of millions of rows.
        query = (
            select(
                UserRecord.user_key,
                RatingRecord.movie_id,
                RatingRecord.rating,
                type_coerce(RatingRecord.rated_at, DateTime()),
                RatingRecord.source,
            )
            .join(UserRecord, UserRecord.id == RatingRecord.user_id)
            .order_by(UserRecord.user_key, RatingRecord.rated_at, RatingRecord.id)
        )
        if source is not None:
            query = query.where(RatingRecord.source == _validate_source(source))
        with self._transaction(write=False) as connection:
            rows = connection.execute(query).all()
        user_keys, movie_ids, values, moments, sources = zip(*rows) if rows else ((), (), (), (), ())
        return pd.DataFrame({
            "user_key": pd.Series(user_keys, dtype=object),
            "movie_id": pd.Series(movie_ids, dtype="int64"),
            "rating": pd.Series(values, dtype="float32"),
            "timestamp": pd.Series([(moment - _NAIVE_EPOCH).total_seconds() for moment in moments], dtype="float64"),
            "source": pd.Series(sources, dtype=object),
        })

    def import_dataset(
        self,
        ratings: pd.DataFrame,
        user_prefix: str,
        *,
        chunk_size: int = 5000,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Store a MovieLens ratings frame with source ``"dataset"``; return the number of ratings.

        ``ratings`` has the columns ``user_id``, ``movie_id``, ``rating`` and ``timestamp``
        (seconds since 1970), as :func:`recengine.movielens.load_dataset` returns them. Dataset
        user 42 becomes the user key ``f"{user_prefix}42"``. Existing ratings of the same user and
        movie are replaced, so importing twice stores each rating once. When the frame rates a
        movie twice for one user, the later timestamp wins. Every row is checked before anything
        is written. Each chunk of ``chunk_size`` rows is its own transaction, so other writers
        wait for one chunk at most. A database failure part way leaves the earlier chunks stored,
        and running the import again completes it. ``progress`` is called with the row count of
        each stored chunk.
        """
        if chunk_size < 1:
            raise StoreInputError(f"Invalid chunk size {chunk_size}: expected a positive number of rows.")
        rows = _dataset_rows(ratings, user_prefix)
        for start in range(0, len(rows.user_keys), chunk_size):
            stop = min(start + chunk_size, len(rows.user_keys))
            with self._transaction(write=True) as connection:
                user_ids = self._user_ids_for_write(connection, set(rows.user_keys[start:stop]))
                self._upsert_ratings(connection, [
                    {
                        "user_id": user_ids[rows.user_keys[row]],
                        "movie_id": rows.movie_ids[row],
                        "rating": rows.ratings[row],
                        "rated_at": rows.rated_at[row],
                        "source": "dataset",
                    }
                    for row in range(start, stop)
                ])
            if progress is not None:
                progress(stop - start)
        log.info(
            "Imported %d dataset rating(s) of %d user(s) with prefix %r into %s",
            len(rows.user_keys), len(set(rows.user_keys)), user_prefix, self.url,
        )
        return len(rows.user_keys)

    # --- marks

    def mark(self, user_key: str, movie_id: int, kind: str) -> bool:
        """Mark a movie "seen" or "not_interested" for the user; return False if already marked."""
        user_key = _validate_user_key(user_key)
        movie_id = _validate_movie_id(movie_id)
        (kind,) = _validate_kinds((kind,))
        with self._transaction(write=True) as connection:
            user_id = self._user_id_for_write(connection, user_key)
            row = {"user_id": user_id, "movie_id": movie_id, "kind": kind, "marked_at": _utc_now()}
            if self._native is not None:
                return self._native.marks.execute(connection, [row]).rowcount > 0
            return self._insert_unless_present(connection, insert(MovieMarkRecord).values(**row))

    def unmark(self, user_key: str, movie_id: int, kind: str | None = None) -> int:
        """Remove the user's marks of the movie (one kind, or every kind for None); return how many."""
        user_key = _validate_user_key(user_key)
        movie_id = _validate_movie_id(movie_id)
        kinds = _validate_kinds(kind)
        statement = delete(MovieMarkRecord).where(
            MovieMarkRecord.user_id.in_(self._user_id_query(user_key)),
            MovieMarkRecord.movie_id == movie_id,
            MovieMarkRecord.kind.in_(kinds),
        )
        with self._transaction(write=True) as connection:
            return connection.execute(statement).rowcount

    def marked(self, user_key: str, kinds: str | Iterable[str] | None = None) -> set[int]:
        """Return the ids of movies the user marked with any of ``kinds`` (default: every kind)."""
        user_key = _validate_user_key(user_key)
        chosen = _validate_kinds(kinds)
        query = (
            select(MovieMarkRecord.movie_id)
            .join(UserRecord, UserRecord.id == MovieMarkRecord.user_id)
            .where(UserRecord.user_key == user_key, MovieMarkRecord.kind.in_(chosen))
        )
        with self._transaction(write=False) as connection:
            return set(connection.execute(query).scalars())

    def clear_marks(self, user_key: str, kinds: str | Iterable[str] | None = None) -> int:
        """Remove the user's marks of the given kinds (default: every kind); return how many."""
        user_key = _validate_user_key(user_key)
        chosen = _validate_kinds(kinds)
        statement = delete(MovieMarkRecord).where(
            MovieMarkRecord.user_id.in_(self._user_id_query(user_key)),
            MovieMarkRecord.kind.in_(chosen),
        )
        with self._transaction(write=True) as connection:
            return connection.execute(statement).rowcount

    # --- helpers

    @staticmethod
    def _ratings_query() -> Any:
        """Select the StoredRating fields, in field order, joining ratings to their users."""
        return select(
            UserRecord.user_key, RatingRecord.movie_id, RatingRecord.rating, RatingRecord.rated_at, RatingRecord.source,
        ).join(UserRecord, UserRecord.id == RatingRecord.user_id)

    @staticmethod
    def _user_id_query(user_key: str) -> Any:
        return select(UserRecord.id).where(UserRecord.user_key == user_key).scalar_subquery()

    @staticmethod
    def _locked_user_ids(keys: list[str]) -> Any:
        # FOR KEY SHARE (PostgreSQL) makes a concurrent delete of these users wait until this
        # transaction has inserted its ratings; SQLite ignores it because BEGIN IMMEDIATE already
        # excludes every other writer. The one-user query in __init__ locks the same way.
        return (
            select(UserRecord.user_key, UserRecord.id)
            .where(UserRecord.user_key.in_(keys))
            .with_for_update(read=True, key_share=True)
        )

    def _user_id_for_write(self, connection: Connection, user_key: str) -> int:
        """Return the user's id, creating the user when needed, without racing other writers."""
        # Fast path for a known user; the statement is built once, which saves its compilation.
        user_id = connection.execute(self._find_user, {"user_key": user_key}).scalar()
        if user_id is not None:
            return int(user_id)
        return self._user_ids_for_write(connection, {user_key})[user_key]

    def _user_ids_for_write(self, connection: Connection, user_keys: set[str]) -> dict[str, int]:
        """Return the id of every key, creating missing users; safe against concurrent writers."""
        found: dict[str, int] = {}
        missing = sorted(user_keys)
        for _attempt in range(_USER_CREATE_ATTEMPTS):
            for start in range(0, len(missing), _KEYS_PER_QUERY):
                found.update(connection.execute(self._locked_user_ids(missing[start:start + _KEYS_PER_QUERY])).all())
            missing = [key for key in missing if key not in found]
            if not missing:
                return found
            now = _utc_now()
            rows = [{"user_key": key, "created_at": now} for key in missing]
            if self._native is not None:
                # A concurrent writer may create the same user first: then this inserts nothing
                # and the next select finds that writer's row.
                self._native.users.execute(connection, rows)
            else:
                for row in rows:
                    self._insert_unless_present(connection, insert(UserRecord).values(**row))
        # Reached only when other writers delete these users again and again while this call runs.
        raise StoreUnavailableError(
            f"Could not create user(s) {', '.join(map(repr, missing[:3]))}: they were deleted concurrently "
            f"{_USER_CREATE_ATTEMPTS} times. Retry the call."
        )

    def _upsert_ratings(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        """Insert ratings, replacing value, time and source of pairs that are already stored."""
        if self._native is not None:
            self._native.ratings.execute(connection, rows)
            return
        # Portable path for dialects without ON CONFLICT: update, else insert, and when a
        # concurrent writer inserted the pair first, update that row instead.
        # NOTE: only exercised on SQLite and PostgreSQL (by switching off their native upsert);
        # it has not run against MySQL or other servers.
        for row in rows:
            replace = (
                update(RatingRecord)
                .where(RatingRecord.user_id == row["user_id"], RatingRecord.movie_id == row["movie_id"])
                .values(rating=row["rating"], rated_at=row["rated_at"], source=row["source"])
            )
            if connection.execute(replace).rowcount:
                continue
            if not self._insert_unless_present(connection, insert(RatingRecord).values(**row)):
                connection.execute(replace)

    @staticmethod
    def _insert_unless_present(connection: Connection, statement: Any) -> bool:
        """Run an INSERT in a savepoint; return False when a unique constraint rejected it."""
        try:
            with connection.begin_nested():
                connection.execute(statement)
        except IntegrityError:
            return False
        return True


class _DatasetRows(NamedTuple):
    """Checked rows of a dataset ratings frame, one list per column."""

    user_keys: list[str]
    movie_ids: list[int]
    ratings: list[float]
    rated_at: list[datetime]
    """Naive datetimes in UTC, which the rated_at column stores as they are."""


def _dataset_rows(ratings: pd.DataFrame, user_prefix: str) -> _DatasetRows:
    """Check a MovieLens ratings frame and convert it to the rows the ratings table stores.

    Raises StoreInputError or InvalidRatingError naming the first bad row. When a user rated a
    movie twice, only the row with the later timestamp is kept.
    """
    if not isinstance(ratings, pd.DataFrame):
        raise StoreInputError(f"Invalid ratings frame: expected a pandas DataFrame, got {type(ratings).__name__}.")
    absent = [column for column in ("user_id", "movie_id", "rating", "timestamp") if column not in ratings.columns]
    if absent:
        raise StoreInputError(
            f"Invalid ratings frame: missing column(s) {', '.join(absent)}; "
            "expected user_id, movie_id, rating and timestamp as load_dataset returns them."
        )
    if not isinstance(user_prefix, str):
        raise StoreInputError(f"Invalid user prefix {user_prefix!r}: expected a string such as 'ml:'.")
    if ratings.empty:
        return _DatasetRows([], [], [], [])
    _check_dataset_columns(ratings)

    keys = [f"{user_prefix}{user_id}" for user_id in ratings["user_id"].tolist()]
    # Every key is the prefix followed by an integer, so checking the longest one checks them all.
    _validate_user_key(max(keys, key=len))
    frame = pd.DataFrame({
        "user_key": keys,
        "movie_id": ratings["movie_id"].to_numpy(dtype="int64"),
        "rating": ratings["rating"].to_numpy(dtype="float64"),
        "timestamp": ratings["timestamp"].to_numpy(dtype="float64"),
    })
    frame = frame.sort_values("timestamp", kind="stable").drop_duplicates(["user_key", "movie_id"], keep="last").sort_index()
    moments = pd.to_datetime(frame["timestamp"], unit="s").to_numpy().astype("datetime64[us]").tolist()
    return _DatasetRows(frame["user_key"].tolist(), frame["movie_id"].tolist(), frame["rating"].tolist(), moments)


def _check_dataset_columns(ratings: pd.DataFrame) -> None:
    """Raise StoreInputError or InvalidRatingError for the first invalid id, time or rating."""
    for column in ("user_id", "movie_id"):
        if not pd.api.types.is_integer_dtype(ratings[column]) or pd.api.types.is_bool_dtype(ratings[column]):
            raise StoreInputError(f"Invalid ratings frame: column {column} has dtype {ratings[column].dtype}; expected integers.")
    if not pd.api.types.is_numeric_dtype(ratings["timestamp"]) or pd.api.types.is_bool_dtype(ratings["timestamp"]):
        raise StoreInputError(
            f"Invalid ratings frame: column timestamp has dtype {ratings['timestamp'].dtype}; expected seconds since 1970."
        )

    movie_ids = ratings["movie_id"].to_numpy()
    bad_movie = (movie_ids < 1) | (movie_ids > MAX_MOVIE_ID)
    if bad_movie.any():
        first = int(np.flatnonzero(bad_movie)[0])
        raise StoreInputError(
            f"Invalid ratings frame: movie id {movie_ids[first]} at row {first} (0-based); "
            f"expected an integer from 1 to {MAX_MOVIE_ID}."
        )
    timestamps = ratings["timestamp"].to_numpy(dtype="float64")
    bad_time = ~np.isfinite(timestamps)
    if bad_time.any():
        first = int(np.flatnonzero(bad_time)[0])
        raise StoreInputError(
            f"Invalid ratings frame: timestamp {timestamps[first]!r} at row {first} (0-based); expected seconds since 1970."
        )

    # Few distinct values exist, so validating each one keeps validate_rating the only rule.
    values = ratings["rating"].to_numpy()
    for value in pd.unique(values):
        try:
            validate_rating(value)
        except InvalidRatingError as error:
            matches = pd.isna(values) if pd.isna(value) else values == value
            first = int(np.flatnonzero(matches)[0])
            raise InvalidRatingError(f"Invalid ratings frame, row {first} (0-based): {error}") from None
