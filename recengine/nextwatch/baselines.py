"""Simple next-item baselines the next-watch network must beat: popularity and item-to-item transitions.

Both work on item-index sequences (indices ``1..n``, as :class:`~recengine.nextwatch.sequences.ItemVocabulary`
assigns them) and return scores of shape (users, n) whose column j is item index j + 1, like the
network's scores, so one ranking function evaluates all of them.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import sparse

__all__ = ["PopularityBaseline", "TransitionConfig", "TransitionBaseline", "tune_transition"]

log = logging.getLogger(__name__)


class PopularityBaseline:
    """Score every item by how many training sequences contain it."""

    name = "popularity"

    def __init__(self, sequences: Sequence[np.ndarray], num_items: int):
        counts = np.zeros(num_items, dtype=np.float64)
        for sequence in sequences:
            np.add.at(counts, np.asarray(sequence, dtype=np.int64) - 1, 1.0)
        self.counts = counts

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Return the same popularity row for every history: shape (len(histories), num_items)."""
        return np.broadcast_to(self.counts, (len(histories), self.counts.size))


@dataclass(frozen=True)
class TransitionConfig:
    """How far transitions reach and how the user's recent items are weighted."""

    window: int = 3
    """A pair (a, b) counts when b follows a within this many positions."""
    gap_decay: float = 0.5
    """A pair ``d`` positions apart counts ``gap_decay ** (d - 1)``."""
    recent: int = 5
    """How many of the user's most recent items vote."""
    recency_decay: float = 0.7
    """The k-th most recent item (k = 0 for the latest) votes with weight ``recency_decay ** k``."""
    popularity_weight: float = 1e-3
    """Share of normalised popularity added, which orders items no transition reaches."""


class TransitionBaseline:
    """A first-order item-to-item transition model with a window and recency weighting.

    ``P[a, b]`` is the decayed count of ``b`` following ``a`` within ``window`` positions, divided by
    the row sum. A user's score is ``sum_k recency_decay**k * P[h_k]`` over their ``recent`` latest
    items ``h_0`` (the latest), ``h_1``, ..., plus a little popularity for items no row reaches.
    """

    name = "transition"

    def __init__(self, sequences: Sequence[np.ndarray], num_items: int, config: TransitionConfig = TransitionConfig()):
        self.config = config
        self.num_items = num_items
        rows: list[np.ndarray] = []
        columns: list[np.ndarray] = []
        values: list[np.ndarray] = []
        for sequence in sequences:
            items = np.asarray(sequence, dtype=np.int64) - 1
            for gap in range(1, config.window + 1):
                if items.size <= gap:
                    break
                rows.append(items[:-gap])
                columns.append(items[gap:])
                values.append(np.full(items.size - gap, config.gap_decay ** (gap - 1)))
        if rows:
            counts = sparse.csr_matrix(
                (np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))), shape=(num_items, num_items),
            )
        else:
            counts = sparse.csr_matrix((num_items, num_items))
        totals = np.asarray(counts.sum(axis=1)).ravel()
        totals[totals == 0] = 1.0
        self.transitions = sparse.diags(1.0 / totals) @ counts  # (num_items, num_items), rows sum to 1 or 0
        self.transitions = self.transitions.tocsr()
        popularity = PopularityBaseline(sequences, num_items).counts
        self.popularity = popularity / max(popularity.max(), 1.0)

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Return (len(histories), num_items) scores."""
        config = self.config
        weights_rows: list[np.ndarray] = []
        weights_columns: list[np.ndarray] = []
        weights_values: list[np.ndarray] = []
        for row, history in enumerate(histories):
            recent = (np.asarray(history, dtype=np.int64) - 1)[::-1][:config.recent]  # latest first
            weights_rows.append(np.full(recent.size, row))
            weights_columns.append(recent)
            weights_values.append(config.recency_decay ** np.arange(recent.size, dtype=np.float64))
        votes = sparse.csr_matrix(
            (np.concatenate(weights_values), (np.concatenate(weights_rows), np.concatenate(weights_columns))),
            shape=(len(histories), self.num_items),
        )  # (users, num_items): each user's recency weights on their latest items
        scores = (votes @ self.transitions).toarray()  # (users, num_items)
        return scores + config.popularity_weight * self.popularity[None, :]


def tune_transition(
    sequences: Sequence[np.ndarray], num_items: int, evaluate: Callable[[TransitionBaseline], float],
    grid: dict[str, Sequence] | None = None,
) -> tuple[TransitionConfig, float]:
    """Return the grid point with the best ``evaluate`` value (validation NDCG) and that value."""
    grid = grid or {"window": (1, 3, 8), "gap_decay": (0.5, 0.8), "recent": (1, 3, 10), "recency_decay": (0.5, 0.8)}
    names = list(grid)
    if not names or any(len(grid[name]) == 0 for name in names):
        raise ValueError(f"the transition grid needs at least one value per parameter, got {grid}")
    best: tuple[TransitionConfig, float] | None = None
    for values in itertools.product(*(grid[name] for name in names)):
        config = TransitionConfig(**dict(zip(names, values)))
        value = evaluate(TransitionBaseline(sequences, num_items, config))
        log.debug("transition %s: %.4f", config, value)
        if best is None or value > best[1]:
            best = (config, value)
    return best  # type: ignore[return-value]
