"""Writers for the ratings-store concurrency tests, importable by spawned child processes.

Every writer (one thread in one process) gets a fixed list of ``(user_key, movie_id, rating)``
operations from :func:`plan_operations`. The lists overlap on purpose, and
:func:`expected_ratings` returns what the store must contain once every writer has finished.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any

import numpy as np

from recengine.store import ACCEPTED_RATINGS, RatingsStore

OWN_MOVIES = 10
"""Movies each writer rates for its own user, each one re-rated ``REPEATS`` times."""
REPEATS = 3
SHARED_MOVIES = 10
"""Movies of the user "shared": every writer writes the same value, so the final value is known."""
CONTESTED_MOVIES = 5
"""Movies of the user "contested": each writer writes its own value, so any of them may win."""
CROWD_USERS = 5
"""New users that every writer creates at the same moment (get-or-create race)."""


def _writer_number(process_index: int, thread_index: int, threads: int) -> int:
    return process_index * threads + thread_index


def plan_operations(process_index: int, thread_index: int, threads: int, seed: int) -> list[tuple[str, int, float]]:
    """Return one writer's operations, shuffled by ``seed`` and the writer's number.

    The re-ratings of the writer's own pairs keep their planned order, so their final values
    are known; everything else lands in random positions between them.
    """
    writer = _writer_number(process_index, thread_index, threads)
    own_user = f"own-{process_index}-{thread_index}"
    own = [
        (own_user, movie_id, _own_value(movie_id, repeat, writer))
        for repeat in range(REPEATS)
        for movie_id in range(1, OWN_MOVIES + 1)
    ]
    others = [("shared", movie_id, ACCEPTED_RATINGS[movie_id % 10]) for movie_id in range(1, SHARED_MOVIES + 1)]
    others += [("contested", movie_id, ACCEPTED_RATINGS[writer % 10]) for movie_id in range(1, CONTESTED_MOVIES + 1)]
    others += [(f"crowd-{crowd}", 1, 3.0) for crowd in range(CROWD_USERS)]

    rng = np.random.default_rng([seed, writer])
    total = len(own) + len(others)
    own_slots = set(rng.choice(total, size=len(own), replace=False).tolist())
    own_operations = iter(own)
    other_operations = iter([others[index] for index in rng.permutation(len(others))])
    return [next(own_operations) if slot in own_slots else next(other_operations) for slot in range(total)]


def _own_value(movie_id: int, repeat: int, writer: int) -> float:
    """Return the value of a writer's ``repeat``-th rating of its own movie; repeats differ."""
    return ACCEPTED_RATINGS[(movie_id + 3 * repeat + writer) % 10]


def expected_ratings(processes: int, threads: int) -> dict[tuple[str, int], set[float]]:
    """Return every (user, movie) pair the writers store, with the values that may be final."""
    expected: dict[tuple[str, int], set[float]] = {}
    writers = [(p, t) for p in range(processes) for t in range(threads)]
    for process_index, thread_index in writers:
        writer = _writer_number(process_index, thread_index, threads)
        for movie_id in range(1, OWN_MOVIES + 1):
            expected[(f"own-{process_index}-{thread_index}", movie_id)] = {_own_value(movie_id, REPEATS - 1, writer)}
        for movie_id in range(1, CONTESTED_MOVIES + 1):
            expected.setdefault(("contested", movie_id), set()).add(ACCEPTED_RATINGS[writer % 10])
    for movie_id in range(1, SHARED_MOVIES + 1):
        expected[("shared", movie_id)] = {ACCEPTED_RATINGS[movie_id % 10]}
    for crowd in range(CROWD_USERS):
        expected[(f"crowd-{crowd}", 1)] = {3.0}
    return expected


def run_writers(url: str, process_index: int, threads: int, seed: int, barrier: Any) -> None:
    """Wait for every process at the barrier, open one store, and run ``threads`` writers on it.

    Every process opens its store at the same moment, so table creation races too. Raises
    RuntimeError with the tracebacks of the writer threads that failed.
    """
    barrier.wait(timeout=180)
    store = RatingsStore(url)
    failures: list[str] = []

    def write(thread_index: int) -> None:
        try:
            for user_key, movie_id, value in plan_operations(process_index, thread_index, threads, seed):
                store.rate(user_key, movie_id, value)
        except Exception:  # reported to the test, which fails with the traceback
            failures.append(traceback.format_exc())

    workers = [threading.Thread(target=write, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    store.close()
    if failures:
        raise RuntimeError(f"{len(failures)} writer thread(s) of process {process_index} failed:\n" + "\n".join(failures))


def run_writer_process(url: str, process_index: int, threads: int, seed: int, barrier: Any, errors: Any) -> None:
    """Child-process entry point: run the writers and put any traceback on the ``errors`` queue."""
    try:
        run_writers(url, process_index, threads, seed, barrier)
    except BaseException:
        errors.put(f"process {process_index}:\n{traceback.format_exc()}")
        raise SystemExit(1)


def rate_after_fork(store: RatingsStore, user_key: str, movie_id: int, value: float, errors: Any) -> None:
    """Forked-child entry point: use a store object that the parent created before the fork."""
    try:
        store.rate(user_key, movie_id, value)
    except BaseException:
        errors.put(traceback.format_exc())
        raise SystemExit(1)
