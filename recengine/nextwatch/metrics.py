"""Full-ranking metrics for leave-one-out evaluation: the rank of the held-out item, HR@k and NDCG@k.

Every movie in the universe is a candidate (no sampled negatives); movies the user has already
rated are removed before ranking, because recommending them is never useful.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

__all__ = ["target_ranks", "hit_rate", "ndcg", "RankingScores", "score_ranks"]


def target_ranks(scores: np.ndarray, targets: np.ndarray, seen: list[np.ndarray]) -> np.ndarray:
    """Return the 0-based rank of each row's target column after removing that row's seen columns.

    ``scores`` has shape (users, items); ``targets`` holds one column per row; ``seen[row]`` lists
    columns to remove (the target is never removed, even when listed). The rank counts columns with
    a higher score, plus columns with an equal score and a smaller column number, which is the
    order a stable sort gives, so ties never flatter a model. Example: scores ``[3, 5, 5, 1]``,
    target column 2, seen ``[1]``: column 1 is removed, nothing else scores above 5, rank 0.
    """
    scores = np.array(scores, dtype=np.float64, copy=True)
    targets = np.asarray(targets, dtype=np.int64)
    rows = np.arange(len(targets))
    for row, columns in enumerate(seen):
        columns = np.asarray(columns, dtype=np.int64)
        columns = columns[columns != targets[row]]
        scores[row, columns] = -np.inf
    target_scores = scores[rows, targets][:, None]
    higher = (scores > target_scores).sum(axis=1)
    column_numbers = np.arange(scores.shape[1])[None, :]
    tied_before = ((scores == target_scores) & (column_numbers < targets[:, None])).sum(axis=1)
    return (higher + tied_before).astype(np.int64)


def hit_rate(ranks: Iterable[int], k: int = 10) -> float:
    """Return the share of users whose held-out item is in the top ``k`` (HR@k)."""
    ranks = np.asarray(list(ranks))
    return float(np.mean(ranks < k)) if ranks.size else 0.0


def ndcg(ranks: Iterable[int], k: int = 10) -> float:
    """Return NDCG@k with one relevant item: ``1 / log2(rank + 2)`` inside the top ``k``, else 0, averaged."""
    ranks = np.asarray(list(ranks))
    if not ranks.size:
        return 0.0
    gains = np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)
    return float(np.mean(gains))


@dataclass(frozen=True)
class RankingScores:
    """HR@k and NDCG@k of one model on one split part."""

    hr: float
    ndcg: float
    users: int
    k: int = 10

    def __str__(self) -> str:
        return f"HR@{self.k} {self.hr:.4f}  NDCG@{self.k} {self.ndcg:.4f}  ({self.users} users)"


def score_ranks(ranks: np.ndarray, k: int = 10) -> RankingScores:
    """Summarise ranks as :class:`RankingScores`."""
    if not math.isfinite(float(k)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k}")
    return RankingScores(hr=hit_rate(ranks, k), ndcg=ndcg(ranks, k), users=int(np.asarray(ranks).size), k=k)
