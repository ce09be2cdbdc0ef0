"""Time-ordered rating sequences, the item vocabulary and leave-one-out splits.

A user's sequence is their rated movies ordered by timestamp. Ratings with the same timestamp
keep the order of the rows they came from (a stable sort), which is also what the ``order``
column of the published ml-100k leave-one-out split encodes, so our split of a ratings frame and
that file agree row for row.

The model works on item indices, not movie ids: index 0 is padding, indices ``1..n`` are the
movies of the vocabulary, and index ``n + 1`` is the mask token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from recengine.errors import DatasetError

__all__ = [
    "ItemVocabulary", "LeaveOneOutSplit", "user_sequences", "leave_one_out", "read_split_folder",
    "truncate", "merge_history", "sequence_counts", "PAD_INDEX",
]

log = logging.getLogger(__name__)

PAD_INDEX = 0


class ItemVocabulary:
    """Map movie ids to model indices ``1..n`` and back; 0 is padding and ``n + 1`` the mask token."""

    def __init__(self, movie_ids: Iterable[int]):
        ids = np.asarray(sorted({int(movie_id) for movie_id in movie_ids}), dtype=np.int64)
        if ids.size == 0:
            raise ValueError("an item vocabulary needs at least one movie id")
        self.movie_ids = ids
        """Movie id of index ``i + 1`` at position ``i``, sorted ascending."""
        self._index = {int(movie_id): position + 1 for position, movie_id in enumerate(ids)}

    def __len__(self) -> int:
        return int(self.movie_ids.size)

    def __contains__(self, movie_id: object) -> bool:
        return movie_id in self._index

    @property
    def mask_index(self) -> int:
        """Index of the mask token, one past the last movie."""
        return len(self) + 1

    @property
    def size_with_special(self) -> int:
        """Embedding rows needed: padding, every movie and the mask token."""
        return len(self) + 2

    def index_of(self, movie_id: int) -> int:
        """Return the index of one movie id, raising KeyError for an id outside the vocabulary."""
        return self._index[int(movie_id)]

    def encode(self, movie_ids: Iterable[int]) -> np.ndarray:
        """Return the indices of the movie ids that are in the vocabulary, in order; unknown ids are dropped."""
        return np.asarray([self._index[int(m)] for m in movie_ids if int(m) in self._index], dtype=np.int32)

    def decode(self, indices: Iterable[int]) -> np.ndarray:
        """Return the movie ids of model indices ``1..n``."""
        return self.movie_ids[np.asarray(list(indices), dtype=np.int64) - 1]


def user_sequences(frame: pd.DataFrame, item_column: str = "movie_id", order_column: str | None = None) -> dict[int, np.ndarray]:
    """Return each user's items ordered by time, oldest first.

    Rows with equal timestamps keep their order in ``frame``, or the order of ``order_column``
    when given. For example, rows ``(u=1, item=7, t=5)``, ``(1, 3, 4)``, ``(1, 9, 5)`` give
    ``{1: [3, 7, 9]}``: item 3 is older, and 7 came before 9 in the frame.
    """
    if frame.empty:
        return {}
    keys = ["user_id", "timestamp"] if order_column is None else ["user_id", "timestamp", order_column]
    ordered = frame.sort_values(keys, kind="stable")
    users = ordered["user_id"].to_numpy()
    items = ordered[item_column].to_numpy(dtype=np.int64)
    # Rows are grouped by user now; cut the item array where the user id changes.
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    ends = np.r_[starts[1:], len(users)]
    return {int(users[start]): items[start:end] for start, end in zip(starts, ends)}


def truncate(sequence: Sequence[int] | np.ndarray, max_len: int) -> np.ndarray:
    """Return the ``max_len`` most recent items of a sequence (its tail)."""
    array = np.asarray(sequence)
    return array[-max_len:] if max_len > 0 and array.size > max_len else array


@dataclass
class LeaveOneOutSplit:
    """Per user: training items in time order, the validation item and the test item.

    The validation item is the second-to-last rating and the test item the last. A model picks
    its hyper-parameters and stops training on validation, then is scored on test with the
    training items and the validation item as the user's history.
    """

    name: str
    train: dict[int, np.ndarray]
    valid: dict[int, int]
    test: dict[int, int]
    movie_ids: np.ndarray
    """Every movie that can be ranked: the dataset's catalog, or every item in the split files."""

    @property
    def users(self) -> list[int]:
        """Return the users that have a test item, sorted."""
        return sorted(self.test)

    def history_for_test(self, user_id: int) -> np.ndarray:
        """Return the training items followed by the validation item."""
        return np.append(self.train[user_id], self.valid[user_id])

    def summary(self) -> str:
        """Return a one-line description: users, items, training interactions."""
        interactions = sum(len(items) for items in self.train.values())
        return f"{self.name}: {len(self.test)} users, {len(self.movie_ids)} items, {interactions} training interactions"


def leave_one_out(ratings: pd.DataFrame, name: str, movie_ids: Iterable[int] | None = None, min_ratings: int = 3) -> LeaveOneOutSplit:
    """Split a ratings frame: each user's last item is the test item and the one before it the validation item.

    Users with fewer than ``min_ratings`` ratings have nothing left to train on and are left out.
    ``movie_ids`` is the ranking universe; it defaults to every movie in ``ratings``.
    """
    if min_ratings < 3:
        raise ValueError(f"min_ratings must be at least 3 (one training, one validation, one test item), got {min_ratings}")
    sequences = user_sequences(ratings)
    train: dict[int, np.ndarray] = {}
    valid: dict[int, int] = {}
    test: dict[int, int] = {}
    for user_id, items in sequences.items():
        if items.size < min_ratings:
            continue
        train[user_id] = items[:-2]
        valid[user_id] = int(items[-2])
        test[user_id] = int(items[-1])
    universe = np.asarray(sorted(set(movie_ids) if movie_ids is not None else set(ratings["movie_id"].tolist())), dtype=np.int64)
    dropped = len(sequences) - len(test)
    if dropped:
        log.info("%s: left out %d users with fewer than %d ratings", name, dropped, min_ratings)
    return LeaveOneOutSplit(name=name, train=train, valid=valid, test=test, movie_ids=universe)


def read_split_folder(folder: Path, name: str | None = None, movie_ids: Iterable[int] | None = None) -> LeaveOneOutSplit:
    """Read a published leave-one-out split: ``train.csv``, ``valid.csv`` and ``test.csv``.

    Each file has the columns ``user_id, item_id, timestamp, order``; ``order`` is the position
    after a stable time sort and breaks timestamp ties. ``valid.csv`` and ``test.csv`` hold one row
    per user.
    """
    folder = Path(folder)
    frames: dict[str, pd.DataFrame] = {}
    for part in ("train", "valid", "test"):
        path = folder / f"{part}.csv"
        if not path.is_file():
            raise DatasetError(f"{path}: file not found; a split folder needs train.csv, valid.csv and test.csv.")
        frame = pd.read_csv(path)
        missing = {"user_id", "item_id", "timestamp", "order"} - set(frame.columns)
        if missing:
            raise DatasetError(f"{path}: missing column(s) {', '.join(sorted(missing))}.")
        frames[part] = frame
    for part in ("valid", "test"):
        if frames[part]["user_id"].duplicated().any():
            raise DatasetError(f"{folder / (part + '.csv')}: a user appears twice; leave-one-out has one row per user.")
    train = user_sequences(frames["train"], item_column="item_id", order_column="order")
    valid = dict(zip(frames["valid"]["user_id"].astype(int), frames["valid"]["item_id"].astype(int)))
    test = dict(zip(frames["test"]["user_id"].astype(int), frames["test"]["item_id"].astype(int)))
    users = set(train) & set(valid) & set(test)
    if users != set(test):
        raise DatasetError(f"{folder}: {len(set(test) - users)} test users lack training or validation rows.")
    if movie_ids is None:
        movie_ids = set(pd.concat([frame["item_id"] for frame in frames.values()]).astype(int))
    universe = np.asarray(sorted(set(int(m) for m in movie_ids)), dtype=np.int64)
    return LeaveOneOutSplit(name=name or folder.name, train=train, valid=valid, test=test, movie_ids=universe)


def merge_history(base: Sequence[int] | np.ndarray, extra: Iterable[int]) -> list[int]:
    """Append ``extra`` to ``base``; a movie already in the sequence moves to its latest position.

    A re-rated movie counts as watched at the later time, so the sequence never holds it twice.
    """
    merged = [int(item) for item in base]
    for item in extra:
        item = int(item)
        if item in merged:
            merged.remove(item)
        merged.append(item)
    return merged


def sequence_counts(sequences: Mapping[int, np.ndarray]) -> dict[int, int]:
    """Return how often each item occurs across all sequences."""
    counts: dict[int, int] = {}
    for items in sequences.values():
        for item in items:
            counts[int(item)] = counts.get(int(item), 0) + 1
    return counts
