"""Benchmark the ratings store on SQLite and PostgreSQL in one run.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_store.py                  # about a minute
    .venv/bin/python benchmarks/bench_store.py --calls 5000 --threads 8
    .venv/bin/python benchmarks/bench_store.py --skip-postgres

Two Markdown tables are printed, followed by the command that produced them:

1. *Single ratings*: latency p50 and p95 of one ``rate()`` call, single-thread throughput, and
   throughput with ``--threads`` threads sharing one store. Calls pick a user out of 100 and a
   movie out of 5,000 with a seeded generator, so about 1 in 50 calls re-rates a stored pair.
   The methods take turns in five slices of the calls, so load changes on a shared machine
   hit them alike. Two baselines run the same work per call (look up the user, upsert the rating, commit):
   *raw driver* through ``sqlite3`` or ``psycopg2`` with no SQLAlchemy, the floor; and
   *ORM session* with a ``Session`` per call and the dialect's ``insert().on_conflict_do_update()``
   built per call, which SQLAlchemy 1.4 compiles again every time.
2. *Bulk*: ``import_dataset`` of ml-latest-small (100,836 ratings) and ``all_ratings()`` reading
   them back.

SQLite uses a file in a temporary folder (WAL, ``synchronous=NORMAL``). PostgreSQL uses a fresh
database on 127.0.0.1:5432 (user postgres, else root), which is dropped at the end. When the
server is not reachable, PostgreSQL is skipped and the reason printed.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from sqlalchemy import create_engine, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recengine.movielens import load_dataset  # noqa: E402
from recengine.store import ACCEPTED_RATINGS, RatingRecord, RatingsStore, UserRecord  # noqa: E402

USERS = 100
MOVIES = 5_000
WARM_UP_CALLS = 100


@dataclass
class Backend:
    name: str
    url: str
    """SQLAlchemy URL of an empty database."""
    raw_connect: Callable[[], object]
    """Open a DBAPI connection in autocommit mode, for the raw-driver baseline."""
    placeholder: str
    begin: str


@dataclass
class LatencyRow:
    backend: str
    method: str
    p50_ms: float
    p95_ms: float
    single_ops: float
    threaded_ops: float | None


def calls(count: int, seed: int) -> list[tuple[str, int, float]]:
    """Return ``count`` (user key, movie id, rating) triples drawn with a fixed seed."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, USERS, count)
    movies = rng.integers(1, MOVIES + 1, count)
    values = rng.integers(0, len(ACCEPTED_RATINGS), count)
    return [(f"bench-{u}", int(m), ACCEPTED_RATINGS[v]) for u, m, v in zip(users, movies, values)]


def measure(rate: Callable[[str, int, float], object], work: list[tuple[str, int, float]]) -> tuple[list[float], float]:
    """Return the latency of each call in seconds and the elapsed time of all of them."""
    timings = []
    started = time.perf_counter()
    for user_key, movie_id, value in work:
        before = time.perf_counter()
        rate(user_key, movie_id, value)
        timings.append(time.perf_counter() - before)
    return timings, time.perf_counter() - started


def measure_threads(rate: Callable[[str, int, float], object], work: list[tuple[str, int, float]], threads: int) -> float:
    """Return calls per second when ``threads`` threads split ``work`` and call ``rate`` at once."""
    barrier = threading.Barrier(threads + 1)
    failures: list[BaseException] = []

    def run(part: list[tuple[str, int, float]]) -> None:
        barrier.wait()
        try:
            for user_key, movie_id, value in part:
                rate(user_key, movie_id, value)
        except BaseException as error:  # re-raised in the main thread
            failures.append(error)

    workers = [threading.Thread(target=run, args=(work[index::threads],)) for index in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise failures[0]
    return len(work) / elapsed


def raw_rate(backend: Backend) -> Callable[[str, int, float], None]:
    """Return a rate function that talks to the driver directly, one connection, no SQLAlchemy."""
    connection = backend.raw_connect()
    mark = backend.placeholder
    find_user = f"SELECT id FROM users WHERE user_key = {mark}"
    add_user = f"INSERT INTO users (user_key, created_at) VALUES ({mark}, {mark}) ON CONFLICT (user_key) DO NOTHING"
    upsert = (
        f"INSERT INTO ratings (user_id, movie_id, rating, rated_at, source) VALUES ({mark}, {mark}, {mark}, {mark}, {mark}) "
        "ON CONFLICT (user_id, movie_id) DO UPDATE SET rating = excluded.rating, rated_at = excluded.rated_at, source = excluded.source"
    )

    def rate(user_key: str, movie_id: int, value: float) -> None:
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        cursor = connection.cursor()
        cursor.execute(backend.begin)
        cursor.execute(find_user, (user_key,))
        row = cursor.fetchone()
        if row is None:
            cursor.execute(add_user, (user_key, now))
            cursor.execute(find_user, (user_key,))
            row = cursor.fetchone()
        cursor.execute(upsert, (row[0], movie_id, value, now, "conversation"))
        cursor.execute("COMMIT")
        cursor.close()

    return rate


def orm_session_rate(store: RatingsStore) -> Callable[[str, int, float], None]:
    """Return a rate function using a Session per call and a per-call dialect upsert construct."""
    engine = store._write_engine
    insert_for = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[engine.dialect.name]

    def rate(user_key: str, movie_id: int, value: float) -> None:
        now = datetime.now(timezone.utc)
        with Session(engine, future=True) as session, session.begin():
            user_id = session.execute(select(UserRecord.id).where(UserRecord.user_key == user_key)).scalar()
            if user_id is None:
                session.execute(
                    insert_for(UserRecord).values(user_key=user_key, created_at=now).on_conflict_do_nothing(index_elements=["user_key"])
                )
                user_id = session.execute(select(UserRecord.id).where(UserRecord.user_key == user_key)).scalar_one()
            statement = insert_for(RatingRecord).values(
                user_id=user_id, movie_id=movie_id, rating=value, rated_at=now, source="conversation",
            )
            session.execute(statement.on_conflict_do_update(
                index_elements=["user_id", "movie_id"],
                set_={"rating": statement.excluded.rating, "rated_at": statement.excluded.rated_at, "source": statement.excluded.source},
            ))

    return rate


def clear(store: RatingsStore) -> None:
    with store._engine.begin() as connection:
        connection.execute(text("DELETE FROM ratings"))
        connection.execute(text("DELETE FROM users"))


def bench_single(backend: Backend, count: int, threads: int, rounds: int) -> list[LatencyRow]:
    """Time each method on the same calls; methods take turns in ``rounds`` slices.

    Taking turns spreads the drift of a shared machine's load over all methods alike.
    """
    work = calls(count, seed=1)
    warm_up = calls(WARM_UP_CALLS, seed=3)
    threaded_work = calls(count, seed=2)
    rows = []
    store = RatingsStore(backend.url)
    try:
        methods: list[tuple[str, Callable[[str, int, float], object], bool]] = [
            ("RatingsStore.rate", store.rate, True),
            ("baseline: ORM session", orm_session_rate(store), True),
            ("baseline: raw driver", raw_rate(backend), False),
        ]
        timings: dict[str, list[float]] = {name: [] for name, _, _ in methods}
        elapsed = dict.fromkeys(timings, 0.0)
        for name, rate, _ in methods:
            for user_key, movie_id, value in warm_up:
                rate(user_key, movie_id, value)
        for round_index in range(rounds):
            part = work[round_index::rounds]
            for name, rate, _ in methods:
                part_timings, part_elapsed = measure(rate, part)
                timings[name] += part_timings
                elapsed[name] += part_elapsed
        for name, rate, thread_safe in methods:
            clear(store)
            threaded = measure_threads(rate, threaded_work, threads) if thread_safe else None
            p50, p95 = np.percentile(timings[name], [50, 95]) * 1000
            rows.append(LatencyRow(backend.name, name, float(p50), float(p95), len(timings[name]) / elapsed[name], threaded))
    finally:
        store.close()
    return rows


def bench_bulk(backend: Backend) -> tuple[str, int, float, float]:
    ratings = load_dataset("ml-latest-small", with_metadata=False).ratings
    with RatingsStore(backend.url) as store:
        clear(store)
        started = time.perf_counter()
        count = store.import_dataset(ratings, "ml:")
        imported = time.perf_counter() - started
        started = time.perf_counter()
        frame = store.all_ratings()
        read = time.perf_counter() - started
    assert len(frame) == count
    return backend.name, count, imported, read


def sqlite_backend(folder: Path) -> Backend:
    path = folder / "ratings.db"

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        connection.execute("PRAGMA synchronous = NORMAL")
        return connection

    return Backend("SQLite (WAL file)", f"sqlite:///{path}", connect, "?", "BEGIN IMMEDIATE")


def postgres_backend() -> Iterator[Backend | str]:
    """Yield a backend on a fresh database, dropped afterwards, or a line saying why there is none."""
    try:
        import psycopg2
    except ImportError as error:
        yield f"PostgreSQL skipped: psycopg2 is not installed ({error})"
        return
    failures = []
    for user in ("postgres", "root"):
        admin = create_engine(f"postgresql://{user}@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT", future=True)
        try:
            with admin.connect() as connection:
                connection.execute(text("SELECT 1"))
            break
        except Exception as error:  # any failure to connect means: try the next user, then skip
            failures.append(f"user {user}: {' '.join(str(error).split())[:200]}")
            admin.dispose()
    else:
        yield f"PostgreSQL skipped: 127.0.0.1:5432 is not reachable ({'; '.join(failures)})"
        return
    name = f"recengine_bench_{os.getpid()}_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        def connect():
            connection = psycopg2.connect(host="127.0.0.1", port=5432, user=user, dbname=name)
            connection.autocommit = True
            return connection

        yield Backend("PostgreSQL 127.0.0.1", f"postgresql://{user}@127.0.0.1:5432/{name}", connect, "%s", "BEGIN")
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def run(options: argparse.Namespace) -> tuple[list[LatencyRow], list[tuple[str, int, float, float]], list[str]]:
    latency: list[LatencyRow] = []
    bulk: list[tuple[str, int, float, float]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-store-") as folder:
        backend = sqlite_backend(Path(folder))
        latency += bench_single(backend, options.calls, options.threads, options.rounds)
        bulk.append(bench_bulk(backend))
    if options.skip_postgres:
        notes.append("PostgreSQL skipped: --skip-postgres")
        return latency, bulk, notes
    for backend in postgres_backend():
        if isinstance(backend, str):
            notes.append(backend)
            continue
        latency += bench_single(backend, options.calls, options.threads, options.rounds)
        bulk.append(bench_bulk(backend))
    return latency, bulk, notes


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark the ratings store on SQLite and PostgreSQL.")
    parser.add_argument("--calls", type=int, default=2000, help="timed rate() calls per method and backend (default 2000)")
    parser.add_argument("--threads", type=int, default=4, help="threads sharing one store in the threaded run (default 4)")
    parser.add_argument("--rounds", type=int, default=5, help="slices in which the methods take turns (default 5)")
    parser.add_argument("--skip-postgres", action="store_true", help="benchmark SQLite only")
    options = parser.parse_args()

    latency, bulk, notes = run(options)

    print(f"Ratings store, {options.calls:,} rate() calls per method ({USERS} users x {MOVIES:,} movies)\n")
    print(f"| backend | method | rate p50 ms | rate p95 ms | 1 thread calls/s | {options.threads} threads calls/s |")
    print("|---|---|---|---|---|---|")
    for row in latency:
        threaded = f"{row.threaded_ops:,.0f}" if row.threaded_ops is not None else "n/a (one connection)"
        print(f"| {row.backend} | {row.method} | {row.p50_ms:.2f} | {row.p95_ms:.2f} | {row.single_ops:,.0f} | {threaded} |")
    print("\n| backend | import_dataset ml-latest-small s | ratings/s | all_ratings() s |")
    print("|---|---|---|---|")
    for name, count, imported, read in bulk:
        print(f"| {name} | {imported:.2f} | {count / imported:,.0f} | {read:.2f} |")
    for note in notes:
        print(f"\n{note}")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\nMachine: {platform.platform()}, {os.cpu_count()} CPUs, load average {load} at the end (shared machine: figures are noisy).")
    print(f"Command: .venv/bin/python benchmarks/bench_store.py {' '.join(sys.argv[1:])}".rstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
