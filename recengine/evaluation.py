"""Offline evaluation of the recommenders: ranking metrics, reproducible splits, tables and plots.

Two protocols, both run by ``python -m recengine evaluate``:

Temporal hold-out (ml-latest-small). Each user's ratings are sorted by time, ties broken by movie
id. The last ``test_fraction`` of them (at least one) is the test set, and the rest is training.
Every model is trained on the training ratings only, and the catalog's rating counts and means
are recomputed from them, so popularity charts do not see the future. A test movie is relevant
when its rating is at least ``relevance_threshold`` (4 stars by default); users without a relevant
test movie are left out. Each model ranks every movie the user has not rated in training and
returns ten. Precision@10, recall@10 and NDCG@10 are averaged over users, and catalogue coverage
is the share of catalog movies that appear in at least one user's list.

Leave-one-out (ml-100k). The split in ``splits/ml-100k-leave-one-out`` of the shared datasets
folder: per user the last rating by time is the test item, the one before it validation. Models
train on the training rows plus the validation rows, the user's history is both, and hit rate
and NDCG at 10 are computed against all items with seen items masked, so the figures compare with
published leave-one-out results of other libraries (which train on the training rows only).

Metric definitions, for a list ``L`` of length k and relevant set ``R`` (binary relevance)::

    precision@k = |L ∩ R| / k
    recall@k    = |L ∩ R| / |R|
    NDCG@k      = Σ_{hits at 1-based rank r} 1/log2(r + 1)  /  Σ_{r=1}^{min(|R|, k)} 1/log2(r + 1)
    HR@k        = 1 if L ∩ R else 0
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from recengine.catalog import Catalog
from recengine.errors import DatasetError
from recengine.recommender import RatedMovie, Recommender, Request

__all__ = [
    "precision_at_k", "recall_at_k", "ndcg_at_k", "hit_rate_at_k", "catalogue_coverage",
    "Split", "temporal_split", "leave_one_out_split", "train_catalog", "user_histories",
    "ModelScores", "evaluate_recommender", "evaluate_models", "markdown_table", "plot_scores",
    "MODEL_NAMES", "EvaluationConfig", "ModelSet", "score_models", "run_temporal", "run_leave_one_out",
    "tune_hybrid", "tune_seeded", "MostRated",
]

log = logging.getLogger(__name__)

LEAVE_ONE_OUT_FOLDER = "splits/ml-100k-leave-one-out"


# ---------------------------------------------------------------------- metrics


def _top(recommended: Sequence[int], k: int) -> list[int]:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return list(recommended)[:k]


def precision_at_k(recommended: Sequence[int], relevant: Iterable[int], k: int = 10) -> float:
    """Return the share of the first ``k`` places that hold a relevant movie (a short list still divides by k)."""
    relevant = set(relevant)
    return sum(1 for movie_id in _top(recommended, k) if movie_id in relevant) / k


def recall_at_k(recommended: Sequence[int], relevant: Iterable[int], k: int = 10) -> float:
    """Return the share of relevant movies found in the first ``k`` places; 0 when nothing is relevant."""
    relevant = set(relevant)
    if not relevant:
        return 0.0
    return sum(1 for movie_id in _top(recommended, k) if movie_id in relevant) / len(relevant)


def ndcg_at_k(recommended: Sequence[int], relevant: Iterable[int], k: int = 10) -> float:
    """Return binary-relevance NDCG of the first ``k`` places; 0 when nothing is relevant."""
    relevant = set(relevant)
    if not relevant:
        return 0.0
    gain = sum(1.0 / math.log2(rank + 2) for rank, movie_id in enumerate(_top(recommended, k)) if movie_id in relevant)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(relevant), k)))
    return gain / ideal


def hit_rate_at_k(recommended: Sequence[int], relevant: Iterable[int], k: int = 10) -> float:
    """Return 1.0 when any of the first ``k`` places is relevant, else 0.0."""
    relevant = set(relevant)
    return 1.0 if any(movie_id in relevant for movie_id in _top(recommended, k)) else 0.0


def catalogue_coverage(lists: Iterable[Sequence[int]], catalog_size: int) -> float:
    """Return the share of the catalog recommended to at least one user."""
    if catalog_size < 1:
        raise ValueError(f"catalog_size must be at least 1, got {catalog_size}")
    shown = set()
    for movie_ids in lists:
        shown.update(movie_ids)
    return len(shown) / catalog_size


# ---------------------------------------------------------------------- splits


@dataclass
class Split:
    """Training ratings, and test ratings of the users being evaluated."""

    name: str
    train: pd.DataFrame
    test: pd.DataFrame
    description: str


def temporal_split(ratings: pd.DataFrame, test_fraction: float = 0.2, name: str = "temporal") -> Split:
    """Hold out each user's most recent ``test_fraction`` of ratings (at least one; none for one-rating users).

    Ratings are ordered by timestamp, then movie id, so the split is the same on every run.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    ordered = ratings.sort_values(["user_id", "timestamp", "movie_id"], kind="mergesort").reset_index(drop=True)
    sizes = ordered.groupby("user_id", sort=False)["movie_id"].transform("size").to_numpy()
    position = ordered.groupby("user_id", sort=False).cumcount().to_numpy()
    held_out = np.where(sizes > 1, np.maximum(1, np.ceil(sizes * test_fraction)), 0)
    is_test = position >= sizes - held_out
    description = (
        f"per-user temporal hold-out: each user's last {test_fraction:.0%} of ratings by time "
        f"(at least one) is the test set"
    )
    return Split(name, ordered[~is_test].reset_index(drop=True), ordered[is_test].reset_index(drop=True), description)


def leave_one_out_split(datasets_dir: Path, ratings: pd.DataFrame) -> tuple[Split, Split]:
    """Read the ml-100k leave-one-out files and return (validation split, test split) with ratings attached.

    The validation split trains on ``train.csv`` and tests on ``valid.csv``; the test split trains
    on both and tests on ``test.csv``. The files carry no ratings, so they are joined from
    ml-100k's ``ratings`` on (user, item, timestamp).
    """
    folder = Path(datasets_dir) / LEAVE_ONE_OUT_FOLDER
    parts = {}
    for part in ("train", "valid", "test"):
        path = folder / f"{part}.csv"
        if not path.is_file():
            raise DatasetError(f"{path}: file not found; the leave-one-out split lives in <data dir>/{LEAVE_ONE_OUT_FOLDER}.")
        frame = pd.read_csv(path).rename(columns={"item_id": "movie_id"})
        merged = frame.merge(ratings, on=["user_id", "movie_id", "timestamp"], how="left", validate="one_to_one")
        if merged["rating"].isna().any():
            raise DatasetError(f"{path}: {int(merged['rating'].isna().sum())} rows have no matching ml-100k rating; is it the ml-100k split?")
        parts[part] = merged[["user_id", "movie_id", "rating", "timestamp"]]
    validation = Split("leave-one-out validation", parts["train"], parts["valid"], "ml-100k leave-one-out, validation item")
    test = Split(
        "leave-one-out", pd.concat([parts["train"], parts["valid"]], ignore_index=True), parts["test"],
        "ml-100k leave-one-out: each user's last rating by time is the test item; trained on the rest",
    )
    return validation, test


def train_catalog(catalog: Catalog, train: pd.DataFrame) -> Catalog:
    """Return a copy of ``catalog`` whose rating counts and means come from ``train`` only."""
    movies = catalog.movies.copy()
    stats = train.groupby("movie_id")["rating"].agg(["size", "mean"])
    movies["rating_count"] = stats["size"].reindex(movies.index).fillna(0).astype(np.int64)
    movies["rating_mean"] = stats["mean"].reindex(movies.index).astype(float)
    return Catalog(movies, name=f"{catalog.name} (training ratings)")


def user_histories(ratings: pd.DataFrame) -> dict[int, tuple[RatedMovie, ...]]:
    """Return every user's ratings as :class:`RatedMovie` tuples, oldest first."""
    ordered = ratings.sort_values(["user_id", "timestamp", "movie_id"], kind="mergesort")
    histories: dict[int, tuple[RatedMovie, ...]] = {}
    for user_id, group in ordered.groupby("user_id", sort=True):
        histories[int(user_id)] = tuple(
            RatedMovie(int(movie_id), float(rating), float(timestamp))
            for movie_id, rating, timestamp in zip(group["movie_id"], group["rating"], group["timestamp"])
        )
    return histories


# ---------------------------------------------------------------------- scoring


@dataclass
class ModelScores:
    """One model's averaged metrics on one split."""

    model: str
    split: str
    metrics: dict[str, float]
    users: int
    seconds: float
    answered_by: dict[str, int] = field(default_factory=dict)
    """Number of lists per source, which shows when a fallback produced them."""

    def row(self) -> dict[str, object]:
        """Return a flat mapping for a table row."""
        return {"model": self.model, "split": self.split, **self.metrics, "users": self.users, "seconds": round(self.seconds, 1)}


def evaluate_recommender(
    recommender: Recommender,
    split: Split,
    catalog_size: int,
    k: int = 10,
    relevance_threshold: float | None = 4.0,
    users: Sequence[int] | None = None,
    histories: Mapping[int, tuple[RatedMovie, ...]] | None = None,
    seeds: Mapping[int, int] | None = None,
) -> ModelScores:
    """Ask ``recommender`` for ``k`` movies per test user and average the ranking metrics.

    ``relevance_threshold`` None counts every test movie as relevant (the leave-one-out protocol).
    With ``seeds`` (user id to movie id) each request carries that seed movie, and users without
    a seed are left out.
    """
    test = split.test if relevance_threshold is None else split.test[split.test["rating"] >= relevance_threshold]
    relevant = test.groupby("user_id")["movie_id"].apply(set).to_dict()
    selected = sorted(relevant) if users is None else [user for user in users if user in relevant]
    if seeds is not None:
        selected = [user for user in selected if user in seeds]
    histories = histories if histories is not None else user_histories(split.train)
    totals = {"precision": 0.0, "recall": 0.0, "ndcg": 0.0, "hit_rate": 0.0}
    lists: list[list[int]] = []
    answered_by: dict[str, int] = {}
    started = time.perf_counter()
    for user_id in selected:
        seed = seeds.get(user_id) if seeds is not None else None
        request = Request(history=histories.get(user_id, ()), user_id=user_id, n=k, seed_movie_id=seed)
        result = recommender.recommend(request)
        movie_ids = result.movie_ids
        lists.append(movie_ids)
        answered_by[result.source] = answered_by.get(result.source, 0) + 1
        wanted = relevant[user_id]
        totals["precision"] += precision_at_k(movie_ids, wanted, k)
        totals["recall"] += recall_at_k(movie_ids, wanted, k)
        totals["ndcg"] += ndcg_at_k(movie_ids, wanted, k)
        totals["hit_rate"] += hit_rate_at_k(movie_ids, wanted, k)
    seconds = time.perf_counter() - started
    count = max(len(selected), 1)
    metrics = {f"{name}@{k}": value / count for name, value in totals.items()}
    metrics["coverage"] = catalogue_coverage(lists, catalog_size)
    log.info("%s on %s: %s over %d users in %.1f s", recommender.name, split.name, metrics, len(selected), seconds)
    return ModelScores(recommender.name, split.name, metrics, len(selected), seconds, answered_by)


def evaluate_models(
    factories: Mapping[str, Callable[[], Recommender]],
    split: Split,
    catalog_size: int,
    k: int = 10,
    relevance_threshold: float | None = 4.0,
    users: Sequence[int] | None = None,
) -> list[ModelScores]:
    """Build each model (timed separately) and score it on ``split``; returns one entry per model."""
    histories = user_histories(split.train)
    results = []
    for label, factory in factories.items():
        started = time.perf_counter()
        recommender = factory()
        log.info("Built %s for %s in %.1f s", label, split.name, time.perf_counter() - started)
        scores = evaluate_recommender(recommender, split, catalog_size, k, relevance_threshold, users, histories)
        scores.model = label
        results.append(scores)
    return results


# ---------------------------------------------------------------------- reporting


def markdown_table(results: Sequence[ModelScores], columns: Sequence[str]) -> str:
    """Return a Markdown table with one row per result and the named metric columns."""
    header = ["model", "split", *columns, "users", "eval s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for result in results:
        cells = [result.model, result.split]
        cells += [f"{result.metrics[column]:.4f}" if column in result.metrics else "–" for column in columns]
        cells += [str(result.users), f"{result.seconds:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_scores(results: Sequence[ModelScores], panels: Sequence[tuple[str, Sequence[str]]], path: Path) -> Path:
    """Draw grouped bars, one panel per (split name, metric columns), and write a PNG to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.5), squeeze=False)
    for axis, (split_name, columns) in zip(axes[0], panels):
        rows = [result for result in results if result.split == split_name]
        width = 0.8 / max(len(rows), 1)
        positions = np.arange(len(columns))
        for offset, result in enumerate(rows):
            values = [result.metrics.get(column, 0.0) for column in columns]
            bars = axis.bar(positions + offset * width, values, width, label=result.model)
            axis.bar_label(bars, fmt="%.3f", fontsize=7, rotation=90, padding=2)
        axis.set_xticks(positions + width * (len(rows) - 1) / 2)
        axis.set_xticklabels(columns)
        highest = max((result.metrics.get(column, 0.0) for result in rows for column in columns), default=0.0)
        # Headroom above the tallest bar keeps its rotated value label inside the axes.
        axis.set_ylim(0, max(highest * 1.3, 0.01))
        axis.set_title(split_name)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


# ---------------------------------------------------------------------- the harness

MODEL_NAMES = ("most-rated", "popularity", "content", "svd-rating", "svd", "hybrid")
"""Rows of the comparison. ``most-rated`` is the plain baseline of the most rated movies,
``popularity`` the weighted-rating chart, ``svd-rating`` SVD ordered by predicted stars and ``svd``
SVD ordered by its ranking model."""


class MostRated:
    """Baseline recommender: the movies with the most training ratings that the user has not rated."""

    name = "most-rated"

    def __init__(self, train: pd.DataFrame):
        counts = train.groupby("movie_id").size()
        order = np.lexsort((counts.index.to_numpy(), -counts.to_numpy()))
        self._ids = counts.index.to_numpy()[order]
        self._counts = counts.to_numpy()[order]

    def recommend(self, request: Request):
        from recengine.recommender import Recommendations, Suggestion

        blocked = request.blocked_ids()
        items = []
        for movie_id, count in zip(self._ids.tolist(), self._counts.tolist()):
            if movie_id in blocked:
                continue
            items.append(Suggestion(movie_id, float(count), f"rated by {count} users", self.name))
            if len(items) == request.n:
                break
        return Recommendations(items, self.name)


@dataclass(frozen=True)
class EvaluationConfig:
    """Settings of a ``python -m recengine evaluate`` run."""

    dataset: str = "ml-latest-small"
    """Dataset of the temporal hold-out."""
    test_fraction: float = 0.2
    """Share of each user's most recent ratings held out."""
    k: int = 10
    """List length scored."""
    relevance_threshold: float = 4.0
    """Test ratings at or above this are relevant in the temporal hold-out."""
    max_users: int | None = None
    """Keep only the ratings of the first N users by id before splitting (quick runs and tests)."""
    leave_one_out: bool = True
    """Also score on the ml-100k leave-one-out split."""
    models: tuple[str, ...] = MODEL_NAMES
    """Rows to run, from :data:`MODEL_NAMES`."""

    def __post_init__(self) -> None:
        unknown = set(self.models) - set(MODEL_NAMES)
        if unknown:
            raise ValueError(f"unknown model(s) {', '.join(sorted(unknown))}; choose from {', '.join(MODEL_NAMES)}")
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        if self.max_users is not None and self.max_users < 2:
            raise ValueError(f"max_users must be at least 2, got {self.max_users}")


class ModelSet:
    """Builds the compared models on one training set, each once, sharing SVD and content with the hybrid."""

    def __init__(self, catalog: Catalog, train: pd.DataFrame, svd_config=None, hybrid_config=None, content_config=None):
        self.catalog = train_catalog(catalog, train)
        self.train = train
        self.svd_config = svd_config
        self.hybrid_config = hybrid_config
        self.content_config = content_config
        self._built: dict[str, object] = {}
        self.build_seconds: dict[str, float] = {}

    def _cached(self, name: str, build: Callable[[], object]):
        if name not in self._built:
            started = time.perf_counter()
            self._built[name] = build()
            self.build_seconds[name] = time.perf_counter() - started
        return self._built[name]

    def popularity(self):
        from recengine.popularity import PopularityModel

        return self._cached("popularity", lambda: PopularityModel(self.catalog))

    def content(self):
        from recengine.content import ContentModel

        return self._cached("content", lambda: ContentModel.fit(self.catalog, self.content_config))

    def svd(self):
        from recengine.svd import SVDConfig, SVDModel

        return self._cached("svd", lambda: SVDModel(self.catalog, self.svd_config or SVDConfig()).fit(self.train))

    def svd_rating(self):
        """SVD ordered by predicted stars: the rating model of :meth:`svd` with its own ranking switched off."""
        return self._cached("svd-rating", lambda: self.svd().with_config(self.svd().config.replace(ranking="rating")))

    def hybrid(self):
        from recengine.hybrid import HybridConfig, HybridModel

        return self._cached("hybrid", lambda: HybridModel(
            self.catalog, self.svd(), self.content(), self.popularity(), self.hybrid_config or HybridConfig(),
        ))

    def most_rated(self):
        return self._cached("most-rated", lambda: MostRated(self.train))

    def get(self, name: str):
        """Return the model behind a row name of :data:`MODEL_NAMES`."""
        return {"most-rated": self.most_rated, "popularity": self.popularity, "content": self.content, "svd-rating": self.svd_rating,
                "svd": self.svd, "hybrid": self.hybrid}[name]()


def _first_users(ratings: pd.DataFrame, max_users: int | None) -> pd.DataFrame:
    if max_users is None:
        return ratings
    kept = np.sort(ratings["user_id"].unique())[:max_users]
    return ratings[ratings["user_id"].isin(kept)]


def score_models(models: ModelSet, names: Sequence[str], split: Split, catalog_size: int, k: int,
                 relevance_threshold: float | None) -> list[ModelScores]:
    """Score the named models of ``models`` on ``split``, sharing the users' histories."""
    histories = user_histories(split.train)
    results = []
    for name in names:
        recommender = models.get(name)
        scores = evaluate_recommender(recommender, split, catalog_size, k, relevance_threshold, histories=histories)
        scores.model = name
        results.append(scores)
    return results


def run_temporal(config: EvaluationConfig, settings=None, svd_config=None, hybrid_config=None) -> tuple[Split, list[ModelScores]]:
    """Run the temporal hold-out on ``config.dataset`` for ``config.models``."""
    from recengine.movielens import load_dataset

    data = load_dataset(config.dataset, settings)
    split = temporal_split(_first_users(data.ratings, config.max_users), config.test_fraction, name=f"{data.name} temporal")
    models = ModelSet(data.catalog, split.train, svd_config, hybrid_config)
    return split, score_models(models, config.models, split, len(data.catalog), config.k, config.relevance_threshold)


def run_leave_one_out(config: EvaluationConfig, settings=None, svd_config=None, hybrid_config=None) -> tuple[Split, list[ModelScores]]:
    """Score ``config.models`` on the ml-100k leave-one-out test items (every test item relevant)."""
    from recengine.config import get_settings
    from recengine.movielens import load_dataset

    settings = settings or get_settings()
    if settings.data_dir is None:
        raise DatasetError(f"no datasets folder is set: point RECENGINE_DATA_DIR at the folder holding {LEAVE_ONE_OUT_FOLDER}.")
    data = load_dataset("ml-100k", settings)
    _, split = leave_one_out_split(settings.data_dir, data.ratings)
    if config.max_users is not None:
        kept = np.sort(split.train["user_id"].unique())[: config.max_users]
        split = Split(split.name, split.train[split.train["user_id"].isin(kept)], split.test[split.test["user_id"].isin(kept)], split.description)
    models = ModelSet(data.catalog, split.train, svd_config, hybrid_config)
    return split, score_models(models, config.models, split, len(data.catalog), config.k, None)


def tune_hybrid(config: EvaluationConfig, weights: Sequence[float], settings=None, svd_config=None) -> tuple[Split, list[ModelScores]]:
    """Score the hybrid's personal lists for each content weight on a validation cut of the training data.

    The temporal hold-out's training part is split again the same way (each user's latest
    ``test_fraction`` of it), so choosing the weight never looks at the test ratings.
    """
    from recengine.hybrid import HybridConfig, HybridModel
    from recengine.movielens import load_dataset

    data = load_dataset(config.dataset, settings)
    outer = temporal_split(_first_users(data.ratings, config.max_users), config.test_fraction)
    inner = temporal_split(outer.train, config.test_fraction, name=f"{data.name} validation")
    models = ModelSet(data.catalog, inner.train, svd_config)
    histories = user_histories(inner.train)
    results = []
    for weight in weights:
        hybrid = HybridModel(models.catalog, models.svd(), models.content(), models.popularity(), HybridConfig(content_weight=weight))
        scores = evaluate_recommender(hybrid, inner, len(data.catalog), config.k, config.relevance_threshold, histories=histories)
        scores.model = f"hybrid content_weight={weight:g}"
        results.append(scores)
    return inner, results


def tune_seeded(config: EvaluationConfig, settings=None, svd_config=None) -> tuple[Split, list[ModelScores]]:
    """Score "more like this" lists on a validation cut of the training data, for both seed orders.

    Each validation user's most recent liked training movie (rated at or above the relevance
    threshold) is the seed. The relevant movies are the user's liked validation movies. Rows: the
    hybrid ordering the seed's content pool by SVD ranking score and by predicted stars, and the
    content model's own order.
    """
    from recengine.hybrid import HybridConfig, HybridModel
    from recengine.movielens import load_dataset

    data = load_dataset(config.dataset, settings)
    outer = temporal_split(_first_users(data.ratings, config.max_users), config.test_fraction)
    inner = temporal_split(outer.train, config.test_fraction, name=f"{data.name} validation, seeded")
    models = ModelSet(data.catalog, inner.train, svd_config)
    histories = user_histories(inner.train)
    seeds = {}
    for user_id, history in histories.items():
        liked = [item.movie_id for item in history if item.rating >= config.relevance_threshold]
        if liked:
            seeds[user_id] = liked[-1]
    rows = {
        f"hybrid seed_order={order}": HybridModel(models.catalog, models.svd(), models.content(), models.popularity(),
                                                  HybridConfig(seed_order=order))
        for order in ("ranking", "predicted")
    }
    rows["content"] = models.content()
    results = []
    for label, recommender in rows.items():
        scores = evaluate_recommender(recommender, inner, len(data.catalog), config.k, config.relevance_threshold,
                                      histories=histories, seeds=seeds)
        scores.model = label
        results.append(scores)
    return inner, results
