"""Collaborative filtering: scikit-surprise SVD, with chat users folded in without retraining.

Rating model. The biased matrix factorisation that Surprise's ``SVD`` trains by stochastic
gradient descent (Koren, Bell and Volinsky, "Matrix factorization techniques for recommender
systems", IEEE Computer 2009)::

    r̂_ui = μ + b_u + b_i + q_i · p_u

It is trained with Surprise 1.1.4 on the dataset's ratings plus the ratings people gave in
conversation, and gives the predicted stars shown to users. The learnt arrays are then kept as
numpy arrays, so prediction, ranking and saving need no Surprise objects.

Ranking model. A model trained to minimise rating error ranks poorly. It puts obscure movies with
a few five-star ratings first and ignores which movies a user is likely to watch at all, so on
the ml-100k leave-one-out split it scores below the popularity chart. The personal list is therefore
ordered by a second Surprise SVD trained on the ratings plus, per user, ``imputed_ratio`` times as
many unrated movies drawn uniformly with the value ``imputed_value`` (0). Treating missing entries
as low ratings is the "AllRank" idea of Steck ("Training and testing of recommender systems on
data missing not at random", KDD 2010): the model then learns both what a user watches and how
they rate it. ``SVDConfig.ranking = "rating"`` orders by the rating model instead.

Fold-in. A user the model was not trained on (a chat user, or a dataset user who has since rated
more) gets ``b_u`` and ``p_u`` from a ridge regression against the fixed item factors::

    minimise  Σ_j (r_uj − μ − b_j − b_u − q_j · p_u)² + λ_b b_u² + λ ‖p_u‖²

which has the closed form ``w = (XᵀX + Λ)⁻¹ Xᵀy`` with ``X = [1 | Q_rated]``,
``y = r − μ − b_rated`` and ``Λ = diag(λ_b, λ, …, λ)``. For the ranking model the imputed entries
are folded in by their expectation: every unrated movie enters with weight ``π`` (the share of
unrated movies training would have drawn for this user), which only needs ``X_allᵀX_all`` and
``X_allᵀy₀``, computed once. The same decomposition names the rated movie that contributes most
to each suggestion.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ContextManager, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from recengine.catalog import Catalog
from recengine.errors import ArtefactError, RecEngineError
from recengine.recommender import RatedMovie, Recommendations, Request, Suggestion

if TYPE_CHECKING:
    from recengine.build import BuildContext
    from recengine.config import Settings

__all__ = [
    "SVDConfig", "SVDModel", "UserVector", "UserFactors", "Contribution", "RANKINGS",
    "dataset_user_key", "conversation_user_key", "build_svd_artefact", "load_svd_artefact",
    "load_conversation_ratings", "config_from_mapping", "svd_build_params",
]

log = logging.getLogger(__name__)

MODEL_FILE = "svd.npz"
CONFIG_FILE = "svd-config.json"
FORMAT_VERSION = 2
RANKINGS = ("imputed", "rating")


@dataclass(frozen=True)
class SVDConfig:
    """Hyper-parameters of :class:`SVDModel`.

    Rating-model defaults: ``benchmarks/bench_rating_accuracy.py`` runs a nested grid search on
    ml-100k, searching on each outer training fold only, and prints where the tuned model lands.
    The defaults here are the cell it chose on all five folds (RMSE 0.911 against 0.934 for
    Surprise's SVD defaults). That cell is the grid's corner, so the optimum may lie beyond it. Ranking, fold-in and explanation defaults were
    chosen on validation data only: the validation items of the ml-100k leave-one-out split and an
    inner temporal cut of the ml-latest-small training ratings (never the test items).
    """

    n_factors: int = 150
    """Length of ``p_u`` and ``q_i`` in the rating model."""
    n_epochs: int = 40
    """Passes of stochastic gradient descent over the ratings (rating model)."""
    lr_all: float = 0.01
    """Learning rate of every parameter (Surprise's ``lr_all``; rating model)."""
    reg_all: float = 0.1
    """L2 penalty of every parameter per rating (Surprise's ``reg_all``; rating model)."""
    init_std_dev: float = 0.1
    """Standard deviation of the normal distribution the factors start from."""
    random_state: int = 42
    """Seed of Surprise's initialisation and of the imputed sample, so a build is repeatable."""

    ranking: str = "imputed"
    """Order of the personal list: ``imputed`` (the ranking model) or ``rating`` (predicted stars)."""
    imputed_ratio: float = 8.0
    """Unrated movies drawn per rating of a user for the ranking model (capped at all unrated movies).

    On the validation data NDCG@10 rose from ratio 3 to 8 and levelled off (ml-100k leave-one-out
    validation: 0.059 at 5, 0.072 at 8, 0.073 at 12, 0.069 at 16). Training time grows with it."""
    imputed_value: float = 0.0
    """Value the ranking model is taught for a drawn unrated movie."""
    rank_n_factors: int = 100
    """Length of the ranking model's factors."""
    rank_n_epochs: int = 20
    """Epochs of the ranking model."""
    rank_lr_all: float = 0.005
    """Learning rate of the ranking model."""
    rank_reg_all: float = 0.05
    """L2 penalty per rating of the ranking model."""

    fold_in_reg: float = 3.0
    """λ on ``‖p_u‖²`` when folding a user into the rating model; larger keeps a user with few ratings near the average.

    Chosen on an inner temporal cut of ml-latest-small, with a fifth of the users left out of
    training and folded in: RMSE on their later ratings was lowest at 3 for users with 3 or 10
    ratings (0.888, 0.867) and at 10 for whole histories (0.844 against 0.849 at 3)."""
    fold_in_bias_reg: float = 3.0
    """λ_b on ``b_u²`` when folding a user into the rating model."""
    rank_fold_in_reg: float = 1.0
    """λ (on the factors and the bias) when folding a user into the ranking model.

    On the same cut, NDCG@10 of the folded-in users was 0.058, 0.076 and 0.108 at 1 for 3, 10
    and all ratings; 3 was better only for whole histories (0.111)."""
    rank_popularity_weight: float = 0.0
    """``w`` in the ranking score ``s_ui + w · log(1 + n_i)`` (n_i: the movie's training ratings)."""
    rank_min_ratings: int = 1
    """Movies with fewer training ratings are never ranked (they can still be predicted)."""
    explain_min_rating: float = 3.5
    """Only ratings at or above this are named in "because you rated …" explanations."""
    rating_min: float = 0.5
    """Lowest predicted rating; predictions are clipped to [rating_min, rating_max]."""
    rating_max: float = 5.0
    """Highest predicted rating."""
    request_blas_threads: int | None = 1
    """BLAS threads while one request is computed; None keeps the process setting.

    A request does a few small solves and matrix-vector products. With OpenBLAS's default of one
    thread per core, a busy 2-core machine made a 3-rating fold-in take about 100 ms at the median
    instead of 3 ms. On a quiet machine two threads were faster for the 45,000-movie synthetic set
    (median 5.5 against 9.3 ms). ``benchmarks/bench_recommend_speed.py`` measures both."""

    def __post_init__(self) -> None:
        problems = []
        for name in ("n_factors", "n_epochs", "rank_n_factors", "rank_n_epochs"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("lr_all", "reg_all", "init_std_dev", "rank_lr_all", "rank_reg_all", "imputed_ratio", "rank_popularity_weight"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must not be negative, got {getattr(self, name)}")
        for name in ("fold_in_reg", "fold_in_bias_reg", "rank_fold_in_reg"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive so the fold-in system is solvable, got {getattr(self, name)}")
        if self.ranking not in RANKINGS:
            problems.append(f"ranking must be one of {', '.join(RANKINGS)}, got {self.ranking!r}")
        if self.ranking == "imputed" and self.imputed_ratio <= 0:
            problems.append("ranking 'imputed' needs a positive imputed_ratio")
        if self.rank_min_ratings < 0:
            problems.append(f"rank_min_ratings must not be negative, got {self.rank_min_ratings}")
        if self.request_blas_threads is not None and self.request_blas_threads < 1:
            problems.append(f"request_blas_threads must be None or at least 1, got {self.request_blas_threads}")
        if not self.rating_min < self.rating_max:
            problems.append(f"rating_min ({self.rating_min}) must be below rating_max ({self.rating_max})")
        if problems:
            raise ValueError("invalid SVDConfig: " + "; ".join(problems))

    def surprise_params(self) -> dict[str, Any]:
        """Return the keyword arguments of ``surprise.SVD`` for the rating model."""
        return {
            "n_factors": self.n_factors, "n_epochs": self.n_epochs, "lr_all": self.lr_all, "reg_all": self.reg_all,
            "init_std_dev": self.init_std_dev, "random_state": self.random_state, "biased": True,
        }

    def ranking_surprise_params(self) -> dict[str, Any]:
        """Return the keyword arguments of ``surprise.SVD`` for the ranking model."""
        return {
            "n_factors": self.rank_n_factors, "n_epochs": self.rank_n_epochs, "lr_all": self.rank_lr_all,
            "reg_all": self.rank_reg_all, "init_std_dev": self.init_std_dev, "random_state": self.random_state,
            "biased": True,
        }

    def replace(self, **changes: Any) -> "SVDConfig":
        """Return a copy with some fields changed."""
        values = asdict(self)
        values.update(changes)
        return SVDConfig(**values)


def config_from_mapping(values: dict[str, Any]) -> SVDConfig:
    """Build a config from a mapping, rejecting unknown names with the list of known ones."""
    known = {item.name for item in fields(SVDConfig)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown SVDConfig field(s) {sorted(unknown)}; known: {sorted(known)}")
    return SVDConfig(**values)


@dataclass(frozen=True)
class UserVector:
    """A user's bias and factors in one factorisation."""

    bias: float
    factors: np.ndarray
    """Shape (n_factors,)."""
    kernel: np.ndarray | None = field(default=None, compare=False, repr=False)
    """``A⁻¹Xᵀ`` of a fold-in, shape (1 + n_factors, rated), kept so explanations need no second solve."""
    targets: np.ndarray | None = field(default=None, compare=False, repr=False)
    """Net targets ``t_j`` of a fold-in, aligned with the kernel's columns."""


@dataclass(frozen=True)
class UserFactors:
    """A user's factors in the rating and the ranking model, trained or folded in."""

    rating: UserVector
    ranking: UserVector | None
    """None when the model ranks by predicted rating."""
    folded_in: bool
    """True when solved from the request's ratings, False when taken from training."""
    rated: tuple[RatedMovie, ...] = ()
    """The request's ratings of movies in the model, used for fold-in and explanations."""


@dataclass(frozen=True)
class Contribution:
    """The rated movie that adds most to one suggestion's score."""

    movie_id: int
    rating: float
    share: float
    """Score this rating adds through the fold-in regression."""


def dataset_user_key(user_id: int) -> str:
    """Return the model's key for a dataset user id."""
    return f"d:{int(user_id)}"


def conversation_user_key(user_key: str) -> str:
    """Return the model's key for a conversational user, distinct from every dataset user id."""
    return f"c:{user_key}"


# ---------------------------------------------------------------------- training helpers


class _ArrayTrainset:
    """A Surprise trainset backed by numpy arrays instead of dicts of tuples.

    Surprise's SVD reads only ``n_users``, ``n_items``, ``global_mean`` and ``all_ratings()``.
    Its own ``Trainset`` keeps every rating twice as Python tuples, several GB for tens of
    millions of ratings, while these arrays need 12 bytes per rating. Ratings come out grouped
    by user (stable, so within a user in input order), the order Surprise's
    ``Trainset.all_ratings`` uses, so the same input gives the same factors as
    ``Dataset.build_full_trainset()``. Pass ``grouped=True`` when the input is already grouped.
    """

    _CHUNK = 1 << 16

    def __init__(self, users: np.ndarray, items: np.ndarray, ratings: np.ndarray, n_users: int, n_items: int,
                 grouped: bool = False):
        if grouped:
            self._users, self._items = users.astype(np.int32, copy=False), items.astype(np.int32, copy=False)
            self._ratings = ratings.astype(np.float32, copy=False)
        else:
            order = np.argsort(users, kind="stable")
            self._users, self._items = users[order].astype(np.int32), items[order].astype(np.int32)
            # Half-star ratings and the imputed value are exact in float32.
            self._ratings = ratings[order].astype(np.float32)
            del order
        self.n_users = n_users
        self.n_items = n_items
        self.n_ratings = len(self._ratings)
        self.rating_scale = (float(self._ratings.min()), float(self._ratings.max()))
        self.global_mean = float(self._ratings.mean(dtype=np.float64))

    def all_ratings(self) -> Iterator[tuple[int, int, float]]:
        """Yield ``(inner user, inner item, rating)`` for every training rating."""
        for start in range(0, self.n_ratings, self._CHUNK):
            stop = start + self._CHUNK
            yield from zip(self._users[start:stop].tolist(), self._items[start:stop].tolist(), self._ratings[start:stop].tolist())


def _surprise_svd(params: dict[str, Any]):
    try:
        from surprise import SVD
    except ImportError as error:  # pragma: no cover - the pinned environment has it
        raise RecEngineError("scikit-surprise is not installed: run `pip install -r requirements.txt`.") from error
    return SVD(**params)


def _sample_unrated(
    user_codes: np.ndarray, item_codes: np.ndarray, n_users: int, n_items: int, ratio: float, rng: np.random.Generator,
    first_user: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw about ``ratio`` unrated movies per rating of users ``first_user`` … ``n_users - 1``, uniformly.

    ``user_codes`` and ``item_codes`` are those users' ratings. A user gets ``round(ratio · n_u)``
    draws, at most as many as their unrated movies. Draws that hit a rated movie or repeat are
    dropped and not redrawn. That loses a few per cent of the draws on a large catalog, but more
    for users who rated a large share of a small one. Returns (users, items) sorted.
    """
    counts = np.bincount(user_codes - first_user, minlength=n_users - first_user)
    wanted = np.minimum(np.rint(counts * ratio).astype(np.int64), n_items - counts)
    users = np.repeat(np.arange(first_user, n_users, dtype=np.int64), wanted)
    items = rng.integers(0, n_items, size=len(users), dtype=np.int64)
    keys = users * n_items + items
    del users, items
    rated = user_codes.astype(np.int64) * n_items + item_codes
    keys = np.unique(keys[~np.isin(keys, rated)])
    return (keys // n_items).astype(np.int32), (keys % n_items).astype(np.int32)


def _ranking_entries(
    user_codes: np.ndarray, item_codes: np.ndarray, values: np.ndarray, n_users: int, n_items: int,
    ratio: float, imputed_value: float, rng: np.random.Generator, block_users: int = 20_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the ranking model's training entries: ratings plus drawn unrated movies.

    Entries come grouped by user and shuffled within each user, so a user's SGD pass interleaves
    ratings and imputed entries. Users are processed in blocks of ``block_users`` to bound the
    memory of drawing, which is several times that of the entries themselves.
    """
    order = np.argsort(user_codes, kind="stable")
    sorted_users, sorted_items, sorted_values = user_codes[order], item_codes[order], values[order]
    del order
    counts = np.bincount(user_codes, minlength=n_users)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    capacity = len(values) + int(np.minimum(np.rint(counts * ratio), n_items - counts).sum())
    users = np.empty(capacity, dtype=np.int32)
    items = np.empty(capacity, dtype=np.int32)
    targets = np.empty(capacity, dtype=np.float32)
    filled = 0
    for first in range(0, n_users, block_users):
        last = min(first + block_users, n_users)
        low, high = bounds[first], bounds[last]
        drawn_users, drawn_items = _sample_unrated(sorted_users[low:high], sorted_items[low:high], last, n_items, ratio, rng, first)
        entry_users = np.concatenate([sorted_users[low:high], drawn_users])
        entry_items = np.concatenate([sorted_items[low:high], drawn_items])
        entry_targets = np.concatenate([sorted_values[low:high], np.full(len(drawn_users), imputed_value)])
        shuffled = np.lexsort((rng.random(len(entry_users)), entry_users))
        size = len(shuffled)
        users[filled:filled + size] = entry_users[shuffled]
        items[filled:filled + size] = entry_items[shuffled]
        targets[filled:filled + size] = entry_targets[shuffled]
        filled += size
    return users[:filled], items[:filled], targets[:filled]


class _Factorisation:
    """One learnt factorisation and its fold-in solver."""

    def __init__(self, global_mean: float, user_bias: np.ndarray, item_bias: np.ndarray, user_factors: np.ndarray,
                 item_factors: np.ndarray, reg: float, bias_reg: float, imputed_ratio: float = 0.0, imputed_value: float = 0.0):
        self.global_mean = float(global_mean)
        self.user_bias = np.asarray(user_bias, dtype=np.float32)
        self.item_bias = np.asarray(item_bias, dtype=np.float32)
        self.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        self.imputed_ratio = imputed_ratio
        self.imputed_value = imputed_value
        self.penalty = np.full(1 + self.item_factors.shape[1], reg)
        self.penalty[0] = bias_reg
        if imputed_ratio > 0:
            design = self.design(slice(None))
            self._gram = design.T @ design
            self._imputed_rhs = design.T @ (imputed_value - self.global_mean - self.item_bias.astype(np.float64))

    @classmethod
    def train(cls, trainset: _ArrayTrainset, params: dict[str, Any], reg: float, bias_reg: float,
              imputed_ratio: float = 0.0, imputed_value: float = 0.0) -> "_Factorisation":
        algorithm = _surprise_svd(params)
        algorithm.fit(trainset)
        return cls(trainset.global_mean, algorithm.bu, algorithm.bi, algorithm.pu, algorithm.qi, reg, bias_reg, imputed_ratio, imputed_value)

    @property
    def n_items(self) -> int:
        return len(self.item_bias)

    def design(self, rows) -> np.ndarray:
        """Return ``X = [1 | Q_rows]`` in float64, shape (len(rows), 1 + n_factors)."""
        factors = self.item_factors[rows].astype(np.float64)
        return np.hstack([np.ones((len(factors), 1)), factors])

    def normal_equations(self, rows: np.ndarray, ratings: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Return ``(A, design, net targets, π)`` of the fold-in regression over rated ``rows``.

        ``A w = Σ_rated x_j t_j + π·X_allᵀy₀`` where ``t_j`` are the net targets; for the rating
        model ``π = 0`` and ``t_j = r_j − μ − b_j``.
        """
        design = self.design(rows)
        targets = ratings - self.global_mean - self.item_bias[rows]
        normal = design.T @ design
        share = 0.0
        if self.imputed_ratio > 0:
            unrated = self.n_items - len(rows)
            share = min(1.0, self.imputed_ratio * len(rows) / unrated) if unrated > 0 else 0.0
            # Rated movies were never drawn as unrated, so their imputed terms are taken back out.
            normal = normal + share * (self._gram - normal)
            targets = targets - share * (self.imputed_value - self.global_mean - self.item_bias[rows])
        return normal + np.diag(self.penalty), design, targets, share

    def fold_in(self, rows: np.ndarray, ratings: np.ndarray) -> UserVector:
        """Solve the fold-in regression; one solve gives both the weights and the explanation kernel."""
        normal, design, targets, share = self.normal_equations(rows, ratings)
        right = np.hstack([design.T, self._imputed_rhs[:, None] * share]) if share else design.T
        solved = np.linalg.solve(normal, right)
        kernel = solved[:, : len(rows)]
        weights = kernel @ targets
        if share:
            weights = weights + solved[:, -1]
        return UserVector(float(weights[0]), weights[1:].astype(np.float32), kernel, targets)

    def trained(self, index: int) -> UserVector:
        return UserVector(float(self.user_bias[index]), self.user_factors[index])

    def scores(self, user: UserVector | None) -> np.ndarray:
        """Return ``μ + b_u + b_i + q_i·p_u`` for every item (unclipped, float32)."""
        if user is None:
            return self.global_mean + self.item_bias
        return self.global_mean + user.bias + self.item_bias + self.item_factors @ user.factors

    def shares(self, rated_rows: np.ndarray, ratings: np.ndarray, candidate_rows: np.ndarray,
               solved: UserVector | None = None) -> np.ndarray:
        """Return what each rated movie adds to each candidate's score, shape (candidates, rated).

        With ``w = A⁻¹(Σ_j x_j t_j + π·X_allᵀy₀)`` the score of candidate i contains
        ``Σ_j (x_iᵀA⁻¹x_j) t_j``, so rated movie j adds ``(x_iᵀA⁻¹x_j) t_j``. ``solved`` is a
        fold-in of the same ratings whose kernel is reused.
        """
        if solved is None or solved.kernel is None:
            solved = self.fold_in(rated_rows, ratings)
        return (self.design(candidate_rows) @ solved.kernel) * solved.targets[None, :]

    def with_penalty(self, reg: float, bias_reg: float) -> "_Factorisation":
        """Return a copy sharing the learnt arrays with another fold-in regularisation."""
        copied = copy.copy(self)
        copied.penalty = np.full_like(self.penalty, reg)
        copied.penalty[0] = bias_reg
        return copied

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}_global_mean": np.float64(self.global_mean), f"{prefix}_user_bias": self.user_bias,
            f"{prefix}_item_bias": self.item_bias, f"{prefix}_user_factors": self.user_factors,
            f"{prefix}_item_factors": self.item_factors,
        }

    @classmethod
    def from_arrays(cls, arrays, prefix: str, reg: float, bias_reg: float, imputed_ratio: float = 0.0,
                    imputed_value: float = 0.0) -> "_Factorisation":
        return cls(
            float(arrays[f"{prefix}_global_mean"]), arrays[f"{prefix}_user_bias"], arrays[f"{prefix}_item_bias"],
            arrays[f"{prefix}_user_factors"], arrays[f"{prefix}_item_factors"], reg, bias_reg, imputed_ratio, imputed_value,
        )


# ---------------------------------------------------------------------- the model


class SVDModel:
    """Surprise SVD for predicted stars, a second one for the order, and fold-in for new users.

    Implements :class:`recengine.recommender.Recommender` under the name ``svd``. Train with
    :meth:`fit` (or :func:`build_svd_artefact`, then :func:`load_svd_artefact`); then use
    :meth:`recommend`, :meth:`predict`, :meth:`predict_for` or :meth:`user_for` with
    :meth:`scores` and :meth:`ranking_scores`.
    """

    name = "svd"

    def __init__(self, catalog: Catalog, config: SVDConfig = SVDConfig()):
        self.catalog = catalog
        self.config = config
        self.training_seconds: dict[str, float] = {}
        """Wall seconds of the last :meth:`fit`, per trained model (for build manifests and benchmarks)."""
        self.rating_model: _Factorisation | None = None
        self.ranking_model: _Factorisation | None = None
        self.user_keys: list[str] = []
        self.item_ids = np.empty(0, dtype=np.int64)
        self.item_counts = np.empty(0, dtype=np.int64)
        self._user_indptr = np.zeros(1, dtype=np.int64)
        self._user_items = np.empty(0, dtype=np.int32)
        self._derive_lookups()

    # ------------------------------------------------------------------ training

    def fit(self, ratings: pd.DataFrame, conversation: pd.DataFrame | None = None) -> "SVDModel":
        """Train on dataset ratings (user_id, movie_id, rating) and conversational ones (user_key, movie_id, rating).

        Conversational users get keys distinct from dataset user ids (see
        :func:`conversation_user_key`). Ratings of movies missing from the catalog are dropped
        with a warning. Returns ``self``.
        """
        config = self.config
        started = time.perf_counter()
        user_codes, item_codes, values, user_keys, item_ids = self._training_arrays(ratings, conversation)
        n_users, n_items = len(user_keys), len(item_ids)
        log.info("Training the SVD rating model on %d ratings (%d users, %d movies): %d factors, %d epochs",
                 len(values), n_users, n_items, config.n_factors, config.n_epochs)
        trainset = _ArrayTrainset(user_codes, item_codes, values, n_users, n_items)
        self.rating_model = _Factorisation.train(trainset, config.surprise_params(), config.fold_in_reg, config.fold_in_bias_reg)
        del trainset
        self.training_seconds = {"rating model": time.perf_counter() - started}
        log.info("Trained the rating model in %.1f s", self.training_seconds["rating model"])
        self.ranking_model = None
        if config.ranking == "imputed":
            ranking_started = time.perf_counter()
            self.ranking_model = self._train_ranking(user_codes, item_codes, values, n_users, n_items)
            self.training_seconds["ranking model"] = time.perf_counter() - ranking_started
        self.user_keys = list(user_keys)
        self.item_ids = np.asarray(item_ids, dtype=np.int64)
        self.item_counts = np.bincount(item_codes, minlength=n_items).astype(np.int64)
        self._index_user_items(user_codes, item_codes, n_users)
        self._derive_lookups()
        log.info("Trained SVD in %.1f s", time.perf_counter() - started)
        return self

    def _train_ranking(self, user_codes: np.ndarray, item_codes: np.ndarray, values: np.ndarray, n_users: int, n_items: int) -> _Factorisation:
        config = self.config
        started = time.perf_counter()
        rng = np.random.default_rng(config.random_state)
        users, items, targets = _ranking_entries(
            user_codes, item_codes, values, n_users, n_items, config.imputed_ratio, config.imputed_value, rng,
        )
        log.info("Training the SVD ranking model on %d entries (%d imputed): %d factors, %d epochs",
                 len(targets), len(targets) - len(values), config.rank_n_factors, config.rank_n_epochs)
        trainset = _ArrayTrainset(users, items, targets, n_users, n_items, grouped=True)
        del users, items, targets
        model = _Factorisation.train(
            trainset, config.ranking_surprise_params(), config.rank_fold_in_reg, config.rank_fold_in_reg,
            config.imputed_ratio, config.imputed_value,
        )
        log.info("Trained the ranking model in %.1f s", time.perf_counter() - started)
        return model

    def _training_arrays(self, ratings: pd.DataFrame, conversation: pd.DataFrame | None):
        """Return (user codes, item codes, ratings, user keys, movie ids), codes in first-appearance order."""
        missing = [column for column in ("user_id", "movie_id", "rating") if column not in ratings.columns]
        if missing:
            raise RecEngineError(f"SVD training ratings lack column(s) {', '.join(missing)}; expected user_id, movie_id, rating.")
        catalog_ids = self.catalog.movie_ids.to_numpy()
        parts = [(ratings["user_id"].to_numpy(dtype=np.int64), ratings["movie_id"].to_numpy(dtype=np.int64),
                  ratings["rating"].to_numpy(dtype=np.float64), dataset_user_key)]
        if conversation is not None and len(conversation):
            parts.append((conversation["user_key"].astype(str).to_numpy(dtype=object), conversation["movie_id"].to_numpy(dtype=np.int64),
                          conversation["rating"].to_numpy(dtype=np.float64), conversation_user_key))
        # Users are coded per source before their keys are formatted, so tens of millions of
        # dataset ratings stay integers. Conversational users follow the dataset users.
        user_codes, movie_ids, values, names = [], [], [], []
        for users, movies, rated, key in parts:
            known = np.isin(movies, catalog_ids)
            if not known.all():
                log.warning("Dropping %d training ratings of movies not in the %s catalog", int((~known).sum()), self.catalog.name)
            codes, uniques = pd.factorize(users[known], sort=False)
            user_codes.append(codes + len(names))
            names += [key(user) for user in uniques]
            movie_ids.append(movies[known])
            values.append(rated[known])
        rating = np.concatenate(values)
        if not len(rating):
            raise RecEngineError("SVD has no ratings to train on: the dataset and the conversational store hold no rating of a catalog movie.")
        item_codes, item_ids = pd.factorize(np.concatenate(movie_ids), sort=False)
        return np.concatenate(user_codes).astype(np.int32), item_codes.astype(np.int32), rating, names, item_ids

    def _index_user_items(self, user_codes: np.ndarray, item_codes: np.ndarray, n_users: int) -> None:
        order = np.argsort(user_codes, kind="stable")
        self._user_items = item_codes[order].astype(np.int32)
        self._user_indptr = np.concatenate([[0], np.cumsum(np.bincount(user_codes, minlength=n_users))]).astype(np.int64)

    def _derive_lookups(self) -> None:
        self._titles: dict[int, str] | None = None
        self._thread_controller = None
        self._user_index = {key: index for index, key in enumerate(self.user_keys)}
        self._item_index = pd.Index(self.item_ids)
        self._log_counts = np.log1p(self.item_counts).astype(np.float32)

    # ------------------------------------------------------------------ saving

    def save(self, folder: Path) -> None:
        """Write the learnt arrays (``svd.npz``) and the configuration (``svd-config.json``) into ``folder``."""
        self._require_trained()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {
            "format": np.int64(FORMAT_VERSION), "user_keys": np.asarray(self.user_keys, dtype=str), "item_ids": self.item_ids,
            "item_counts": self.item_counts, "user_indptr": self._user_indptr, "user_items": self._user_items,
            **self.rating_model.arrays("rating"),
        }
        if self.ranking_model is not None:
            arrays.update(self.ranking_model.arrays("ranking"))
        np.savez(folder / MODEL_FILE, **arrays)
        (folder / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2))

    @classmethod
    def load(cls, folder: Path, catalog: Catalog, config: SVDConfig | None = None) -> "SVDModel":
        """Read a model written by :meth:`save`.

        ``config`` may change fold-in, ranking-score and explanation settings; the trained shapes
        and the ranking mode must match the saved model.
        """
        folder = Path(folder)
        path = folder / MODEL_FILE
        if not path.is_file():
            raise ArtefactError(f"{path} is missing: run `python -m recengine build --only svd` first.")
        rebuild = "run `python -m recengine build --only svd --force`"
        try:
            saved = config_from_mapping(json.loads((folder / CONFIG_FILE).read_text()))
            config = config or saved
            with np.load(path, allow_pickle=False) as arrays:
                if int(arrays["format"]) != FORMAT_VERSION:
                    raise ArtefactError(f"{path} has format {int(arrays['format'])}, not {FORMAT_VERSION}: {rebuild}.")
                model = cls(catalog, config)
                model.user_keys = arrays["user_keys"].tolist()
                model.item_ids = arrays["item_ids"]
                model.item_counts = arrays["item_counts"]
                model._user_indptr = arrays["user_indptr"]
                model._user_items = arrays["user_items"]
                model.rating_model = _Factorisation.from_arrays(arrays, "rating", config.fold_in_reg, config.fold_in_bias_reg)
                if "ranking_user_bias" in arrays.files:
                    model.ranking_model = _Factorisation.from_arrays(
                        arrays, "ranking", config.rank_fold_in_reg, config.rank_fold_in_reg, saved.imputed_ratio, saved.imputed_value,
                    )
        except (OSError, KeyError, ValueError, TypeError) as error:
            raise ArtefactError(f"{folder} contains an unreadable SVD model ({error}): {rebuild}.") from error
        if (config.ranking == "imputed") != (model.ranking_model is not None):
            raise ArtefactError(f"{folder} was trained for ranking {saved.ranking!r}, not {config.ranking!r}: {rebuild}.")
        model._derive_lookups()
        return model

    def with_config(self, config: SVDConfig) -> "SVDModel":
        """Return a model sharing the trained arrays under other fold-in, ranking-score or explanation settings.

        ``ranking="rating"`` drops the ranking model; the trained sizes must stay the same.
        """
        self._require_trained()
        trained = ("n_factors", "n_epochs", "lr_all", "reg_all", "init_std_dev", "random_state")
        changed = [name for name in trained if getattr(config, name) != getattr(self.config, name)]
        if config.ranking == "imputed" and self.ranking_model is None:
            changed.append("ranking")
        if changed:
            raise ValueError(f"with_config cannot change trained settings ({', '.join(changed)}): train a new model.")
        model = SVDModel(self.catalog, config)
        model.user_keys, model.item_ids, model.item_counts = self.user_keys, self.item_ids, self.item_counts
        model._user_indptr, model._user_items = self._user_indptr, self._user_items
        model.rating_model = self.rating_model.with_penalty(config.fold_in_reg, config.fold_in_bias_reg)
        if config.ranking == "imputed":
            model.ranking_model = self.ranking_model.with_penalty(config.rank_fold_in_reg, config.rank_fold_in_reg)
        model._derive_lookups()
        return model

    def _require_trained(self) -> None:
        if self.rating_model is None:
            raise RecEngineError("the SVD model is not trained: call fit() or load a built artefact first.")

    # ------------------------------------------------------------------ users

    @property
    def n_users(self) -> int:
        return len(self.user_keys)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __contains__(self, movie_id: object) -> bool:
        try:
            return int(movie_id) in self._item_index  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False

    def knows_user(self, user_id: int) -> bool:
        """Return True when the dataset user ``user_id`` was in the training data."""
        return dataset_user_key(user_id) in self._user_index

    def trained_movies(self, user_id: int) -> np.ndarray:
        """Return the movie ids the dataset user rated in the training data (empty when unknown)."""
        index = self._user_index.get(dataset_user_key(user_id))
        if index is None:
            return np.empty(0, dtype=np.int64)
        return self.item_ids[self._user_items[self._user_indptr[index]:self._user_indptr[index + 1]]]

    def trained_user(self, key: str, rated: Sequence[RatedMovie] = ()) -> UserFactors | None:
        """Return the trained factors of a model key (:func:`dataset_user_key` or :func:`conversation_user_key`)."""
        self._require_trained()
        index = self._user_index.get(key)
        if index is None:
            return None
        ranking = self.ranking_model.trained(index) if self.ranking_model is not None else None
        return UserFactors(self.rating_model.trained(index), ranking, folded_in=False, rated=self._known(rated))

    def _known(self, history: Iterable[RatedMovie]) -> tuple[RatedMovie, ...]:
        """Return the ratings of movies in the model, keeping the last rating of each movie."""
        latest: dict[int, RatedMovie] = {}
        for item in history:
            latest[int(item.movie_id)] = item
        return tuple(item for item in latest.values() if item.movie_id in self._item_index)

    def fold_in(self, history: Iterable[RatedMovie]) -> UserFactors | None:
        """Solve for a user's bias and factors from their ratings, keeping the items fixed.

        Movies the model has no factors for are ignored; returns None when no rating is usable.
        A movie rated twice counts with its last rating.
        """
        self._require_trained()
        known = self._known(history)
        if not known:
            return None
        rows = self._item_index.get_indexer([item.movie_id for item in known])
        ratings = np.array([item.rating for item in known], dtype=np.float64)
        ranking = self.ranking_model.fold_in(rows, ratings) if self.ranking_model is not None else None
        return UserFactors(self.rating_model.fold_in(rows, ratings), ranking, folded_in=True, rated=known)

    def user_for(self, request: Request) -> UserFactors | None:
        """Return the factors to score ``request`` with, or None when nothing is known about the user.

        A dataset user whose history contains nothing beyond their training ratings uses the trained
        factors; a user with ratings the model has not seen (conversational ones) is folded in
        from the whole history, so a new rating changes the list at once.
        """
        # NOTE: a request names dataset users only, so a chat user is folded in even after
        # `retrain` has trained factors under their conversation_user_key.
        if request.user_id is not None:
            trained = self.trained_user(dataset_user_key(request.user_id), request.history)
            if trained is not None and request.rated_ids <= set(self.trained_movies(request.user_id).tolist()):
                return trained
        if request.history:
            return self.fold_in(request.history)
        return None

    # ------------------------------------------------------------------ scoring

    def scores(self, user: UserFactors | None) -> np.ndarray:
        """Return the clipped predicted stars of every model movie, aligned with :attr:`item_ids`."""
        self._require_trained()
        raw = self.rating_model.scores(None if user is None else user.rating)
        return np.clip(raw, self.config.rating_min, self.config.rating_max)

    def ranking_scores(self, user: UserFactors, predicted: np.ndarray | None = None) -> np.ndarray:
        """Return the score the personal list is sorted by; −inf marks movies that may not be ranked."""
        if self.ranking_model is not None and user.ranking is not None:
            ranked = self.ranking_model.scores(user.ranking).astype(np.float64)
        else:
            ranked = (self.scores(user) if predicted is None else predicted).astype(np.float64)
        if self.config.rank_popularity_weight:
            ranked = ranked + self.config.rank_popularity_weight * self._log_counts
        if self.config.rank_min_ratings > 1:
            ranked[self.item_counts < self.config.rank_min_ratings] = -np.inf
        return ranked

    def predict(self, user_id: int | None, movie_id: int, history: Sequence[RatedMovie] = ()) -> float:
        """Return the predicted stars (clipped to 0.5–5) of one user for one movie.

        ``user_id`` names a dataset user; pass ``history`` instead (or as well) for a chat user.
        An unknown user gets ``μ + b_i``, an unknown movie ``μ + b_u``, as in Surprise.
        """
        user = self.user_for(Request(history=tuple(history), user_id=user_id))
        return float(self.predict_for(user, [movie_id])[0])

    def predict_for(self, user: UserFactors | None, movie_ids: Sequence[int]) -> np.ndarray:
        """Return clipped predictions of ``user`` (None: the average user) for ``movie_ids``."""
        self._require_trained()
        model = self.rating_model
        rows = self._item_index.get_indexer(np.asarray(movie_ids, dtype=np.int64))
        known = rows >= 0
        raw = np.full(len(rows), model.global_mean, dtype=np.float64)
        raw[known] += model.item_bias[rows[known]]
        if user is not None:
            raw += user.rating.bias
            raw[known] += model.item_factors[rows[known]] @ user.rating.factors
        return np.clip(raw, self.config.rating_min, self.config.rating_max)

    def predict_pairs(self, user_ids: np.ndarray, movie_ids: np.ndarray) -> np.ndarray:
        """Return clipped predictions for many (dataset user, movie) pairs at once, for accuracy tests."""
        self._require_trained()
        model = self.rating_model
        user_rows = np.array([self._user_index.get(dataset_user_key(user_id), -1) for user_id in user_ids], dtype=np.int64)
        item_rows = self._item_index.get_indexer(np.asarray(movie_ids, dtype=np.int64))
        raw = np.full(len(user_rows), model.global_mean, dtype=np.float64)
        has_user, has_item = user_rows >= 0, item_rows >= 0
        raw[has_user] += model.user_bias[user_rows[has_user]]
        raw[has_item] += model.item_bias[item_rows[has_item]]
        both = has_user & has_item
        raw[both] += np.einsum("ij,ij->i", model.user_factors[user_rows[both]], model.item_factors[item_rows[both]], dtype=np.float64)
        return np.clip(raw, self.config.rating_min, self.config.rating_max)

    def blocked_rows(self, request: Request) -> np.ndarray:
        """Return model rows of movies the request rules out: rated (in the request or in training), excluded, the seed."""
        blocked = set(request.blocked_ids())
        if request.user_id is not None:
            blocked.update(self.trained_movies(request.user_id).tolist())
        rows = self._item_index.get_indexer(np.fromiter(blocked, dtype=np.int64, count=len(blocked)))
        return rows[rows >= 0]

    def rows_of(self, movie_ids: Sequence[int]) -> np.ndarray:
        """Return model rows of ``movie_ids`` (−1 for movies the model lacks)."""
        return self._item_index.get_indexer(np.asarray(movie_ids, dtype=np.int64))

    def top_rows(self, ranked: np.ndarray, n: int) -> np.ndarray:
        """Return the rows of the ``n`` best finite scores, best first (ties: lower movie id first)."""
        finite = np.isfinite(ranked)
        n = min(n, int(finite.sum()))
        if n <= 0:
            return np.empty(0, dtype=np.int64)
        candidates = np.argpartition(np.where(finite, -ranked, np.inf), n - 1)[:n]
        return candidates[np.lexsort((self.item_ids[candidates], -ranked[candidates]))]

    # ------------------------------------------------------------------ explanations

    def contributions(self, user: UserFactors, movie_ids: Sequence[int]) -> list[Contribution | None]:
        """Return, per movie, the rated movie whose rating raises its score most.

        The decomposition is exact for folded-in users and, for trained users, that of folding
        in their history (close to, not equal to, their trained factors). Only ratings of at
        least ``explain_min_rating`` are named; None where no such rating raises the score.
        """
        liked = [item for item in user.rated if item.rating >= self.config.explain_min_rating]
        candidate_rows = self.rows_of(movie_ids)
        if not liked or not len(movie_ids) or (candidate_rows < 0).all():
            return [None] * len(movie_ids)
        if self.ranking_model is not None:
            model, solved = self.ranking_model, user.ranking
        else:
            model, solved = self.rating_model, user.rating
        rated_rows = self.rows_of([item.movie_id for item in user.rated])
        ratings = np.array([item.rating for item in user.rated], dtype=np.float64)
        shares = model.shares(rated_rows, ratings, np.maximum(candidate_rows, 0), solved if user.folded_in else None)
        eligible = ratings >= self.config.explain_min_rating
        shares[:, ~eligible] = -np.inf
        result: list[Contribution | None] = []
        for position, row in enumerate(candidate_rows):
            best = int(np.argmax(shares[position]))
            if row < 0 or not shares[position, best] > 0:
                result.append(None)
                continue
            rated = user.rated[best]
            result.append(Contribution(int(rated.movie_id), float(rated.rating), float(shares[position, best])))
        return result

    # ------------------------------------------------------------------ recommending

    def request_threads(self) -> ContextManager:
        """Return a context that limits BLAS threads for one request (``SVDConfig.request_blas_threads``)."""
        if self.config.request_blas_threads is None:
            return contextlib.nullcontext()
        if self._thread_controller is None:
            from threadpoolctl import ThreadpoolController

            self._thread_controller = ThreadpoolController()
        return self._thread_controller.limit(limits=self.config.request_blas_threads, user_api="blas")

    def recommend(self, request: Request) -> Recommendations:
        """Return the movies with the best ranking score for the user; an unknown user gets none.

        The genre and year filters of the request are applied. When the request carries neither
        a known dataset user nor a rating of a movie in the model, the result is empty and
        ``fallback_reason`` gives the reason, so the caller decides what such a user gets.
        """
        with self.request_threads():
            return self._recommend(request)

    def _recommend(self, request: Request) -> Recommendations:
        user = self.user_for(request)
        if user is None:
            return Recommendations(items=[], source=self.name, fallback_reason="no ratings of movies the model knows")
        predicted = self.scores(user)
        ranked = self.ranking_scores(user, predicted)
        ranked[self.blocked_rows(request)] = -np.inf
        ranked[~self.filter_mask(request)] = -np.inf
        rows = self.top_rows(ranked, request.n)
        movie_ids = self.item_ids[rows].tolist()
        reasons = self.contributions(user, movie_ids)
        items = []
        for row, movie_id, contribution in zip(rows, movie_ids, reasons):
            stars = float(predicted[row])
            details: dict[str, Any] = {"predicted_rating": round(stars, 3), "folded_in": user.folded_in}
            reason = f"predicted {stars:.1f} stars for you"
            if contribution is not None:
                details["because_of"] = contribution.movie_id
                reason = f"because you rated {self.title(contribution.movie_id)} {_stars(contribution.rating)}; {reason}"
            items.append(Suggestion(int(movie_id), float(ranked[row]), reason, self.name, stars, details))
        log.debug("svd: %d suggestions (folded in: %s)", len(items), user.folded_in)
        return Recommendations(items=items, source=self.name)

    def title(self, movie_id: int) -> str:
        """Return a catalog movie's display title."""
        # Catalog.movie builds a whole Movie through pandas, about a millisecond; a dict lookup is not.
        if self._titles is None:
            self._titles = dict(zip(self.catalog.movies.index.tolist(), self.catalog.movies["display_title"].tolist()))
        return self._titles[int(movie_id)]

    def filter_mask(self, request: Request) -> np.ndarray:
        """Return a boolean mask over model movies that pass the request's genre and year filters."""
        mask = np.ones(self.n_items, dtype=bool)
        if request.genre is None and request.year_from is None and request.year_to is None:
            return mask
        movies = self.catalog.movies.reindex(self.item_ids)
        if request.genre is not None:
            wanted = request.genre.casefold()
            mask &= movies["genres"].map(
                lambda genres: isinstance(genres, tuple) and any(genre.casefold() == wanted for genre in genres)
            ).to_numpy(dtype=bool)
        years = movies["year"].astype("Float64")
        if request.year_from is not None:
            mask &= (years >= request.year_from).fillna(False).to_numpy(dtype=bool)
        if request.year_to is not None:
            mask &= (years <= request.year_to).fillna(False).to_numpy(dtype=bool)
        return mask


def _stars(rating: float) -> str:
    return f"{rating:g} star" + ("" if rating == 1 else "s")


# ---------------------------------------------------------------------- artefact


def load_conversation_ratings(database_url: str) -> pd.DataFrame | None:
    """Return the store's conversational ratings (user_key, movie_id, rating, …), or None when there are none."""
    from recengine.store import RatingsStore

    store = RatingsStore(database_url)
    try:
        frame = store.all_ratings(source="conversation")
    finally:
        store.close()
    return frame if len(frame) else None


def build_svd_artefact(context: "BuildContext", config: SVDConfig = SVDConfig()) -> dict[str, Any]:
    """Train SVD on the dataset and the store's conversational ratings and save it into ``context.out_dir``."""
    # NOTE: the artefact's fingerprint covers the dataset and the config, not the store, so a plain
    # `build` does not notice new conversational ratings; `retrain` forces the rebuild.
    data = context.data
    conversation = load_conversation_ratings(context.settings.database_url)
    model = SVDModel(data.catalog, config.replace(random_state=context.seed)).fit(data.ratings, conversation)
    model.save(context.out_dir)
    return {
        "users": model.n_users, "movies": model.n_items, "ratings": int(model.item_counts.sum()),
        "conversation_ratings": 0 if conversation is None else len(conversation),
    }


def svd_build_params() -> dict[str, Any]:
    """Return the settings that go into the ``svd`` artefact's fingerprint (the default config)."""
    return asdict(SVDConfig())


def load_svd_artefact(catalog: Catalog, dataset: str | None = None, settings: "Settings | None" = None,
                      config: SVDConfig | None = None) -> SVDModel:
    """Load the SVD model built by ``python -m recengine build`` for ``dataset``."""
    from recengine.build import artefact_dir

    return SVDModel.load(artefact_dir("svd", dataset, settings), catalog, config)
