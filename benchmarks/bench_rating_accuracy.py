"""Benchmark rating-prediction accuracy on ml-100k: our SVD beside Surprise's own algorithms.

Usage (from the repository root)::

    nice -n 10 .venv/bin/python benchmarks/bench_rating_accuracy.py            # about 30-60 minutes on 2 cores
    nice -n 10 .venv/bin/python benchmarks/bench_rating_accuracy.py --quick    # no grid search, no SVD++

Protocol: 5-fold cross-validation with ``surprise.model_selection.KFold(n_splits=5,
random_state=0, shuffle=True)`` over the 100,000 ml-100k ratings; every algorithm sees the same
folds in one run. Each row reports the mean and standard deviation over folds of RMSE and MAE on
the held-out fold, and the mean fit time.

Rows:

- Surprise ``BaselineOnly``, ``KNNBaseline`` (default: user-based, MSD similarity, k=40),
  ``SVD`` and ``SVDpp`` with their defaults, as in Surprise's published ml-100k table;
- ``recengine SVDModel (defaults)``: our model with :class:`~recengine.svd.SVDConfig` defaults and
  ``ranking="rating"`` (the ranking model does not affect predicted ratings);
- ``recengine SVDModel (nested grid search)``: on each outer training fold, Surprise's
  ``GridSearchCV`` (3 inner folds, RMSE) picks the cell of ``GRID``; our model is then trained
  with that cell on the whole outer training fold and scored on the outer test fold. The test
  fold is never seen while choosing.

Predictions are clipped to 1–5 for every algorithm, ml-100k's rating scale (our model's own
default clip is 0.5–5, the MovieLens half-star scale). Fit times are wall-clock on a shared
machine and noisy.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recengine.movielens import load_dataset  # noqa: E402
from recengine.svd import SVDConfig, SVDModel  # noqa: E402

GRID = {
    "n_factors": [50, 150],
    "n_epochs": [20, 40],
    "lr_all": [0.005, 0.01],
    "reg_all": [0.02, 0.05, 0.1],
}
OUTER_FOLDS = 5
INNER_FOLDS = 3
SEED = 0


def _surprise_data(ratings: pd.DataFrame):
    from surprise import Dataset, Reader

    frame = ratings[["user_id", "movie_id", "rating"]].astype({"rating": float})
    return Dataset.load_from_df(frame, Reader(rating_scale=(1, 5)))


def _frame(trainset) -> pd.DataFrame:
    rows = [(trainset.to_raw_uid(u), trainset.to_raw_iid(i), r) for u, i, r in trainset.all_ratings()]
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "rating"])


def _errors(predicted: np.ndarray, actual: np.ndarray) -> tuple[float, float]:
    difference = predicted - actual
    return float(np.sqrt(np.mean(difference ** 2))), float(np.mean(np.abs(difference)))


def _score_surprise(algorithm, trainset, testset) -> tuple[float, float, float]:
    started = time.perf_counter()
    algorithm.fit(trainset)
    seconds = time.perf_counter() - started
    predictions = algorithm.test(testset)
    predicted = np.array([prediction.est for prediction in predictions])
    actual = np.array([prediction.r_ui for prediction in predictions])
    return (*_errors(predicted, actual), seconds)


def _score_ours(config: SVDConfig, catalog, train: pd.DataFrame, testset) -> tuple[float, float, float]:
    started = time.perf_counter()
    model = SVDModel(catalog, config.replace(ranking="rating", rating_min=1.0, rating_max=5.0)).fit(train)
    seconds = time.perf_counter() - started
    users = np.array([uid for uid, _, _ in testset])
    movies = np.array([iid for _, iid, _ in testset])
    actual = np.array([rating for _, _, rating in testset])
    return (*_errors(model.predict_pairs(users, movies), actual), seconds)


def _inner_search(train: pd.DataFrame) -> dict:
    from surprise import SVD
    from surprise.model_selection import GridSearchCV, KFold

    search = GridSearchCV(
        SVD, {**GRID, "random_state": [SEED]}, measures=["rmse"], cv=KFold(INNER_FOLDS, random_state=SEED, shuffle=True),
        n_jobs=1, joblib_verbose=0,
    )
    search.fit(_surprise_data(train))
    best = dict(search.best_params["rmse"])
    best.pop("random_state")
    return {"params": best, "inner_rmse": float(search.best_score["rmse"])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the nested grid search and SVD++")
    parser.add_argument("--skip-svdpp", action="store_true", help="skip SVD++ (about a minute per fold)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    options = parser.parse_args()

    from surprise import SVD, BaselineOnly, KNNBaseline, SVDpp
    from surprise.model_selection import KFold

    data = load_dataset("ml-100k")
    dataset = _surprise_data(data.ratings)
    folds = KFold(n_splits=OUTER_FOLDS, random_state=SEED, shuffle=True)
    algorithms = {
        "Surprise BaselineOnly": lambda: BaselineOnly(verbose=False),
        "Surprise KNNBaseline": lambda: KNNBaseline(verbose=False),
        "Surprise SVD": lambda: SVD(random_state=SEED),
    }
    if not (options.quick or options.skip_svdpp):
        algorithms["Surprise SVD++"] = lambda: SVDpp(random_state=SEED, cache_ratings=True)
    results: dict[str, list[tuple[float, float, float]]] = collections.defaultdict(list)
    chosen: list[dict] = []
    for fold, (trainset, testset) in enumerate(folds.split(dataset), start=1):
        print(f"fold {fold}/{OUTER_FOLDS}", file=sys.stderr, flush=True)
        for label, make in algorithms.items():
            results[label].append(_score_surprise(make(), trainset, testset))
        train = _frame(trainset)
        results["recengine SVDModel (defaults)"].append(_score_ours(SVDConfig(random_state=SEED), data.catalog, train, testset))
        if not options.quick:
            started = time.perf_counter()
            search = _inner_search(train)
            search["search_seconds"] = round(time.perf_counter() - started, 1)
            chosen.append(search)
            config = SVDConfig(random_state=SEED, **search["params"])
            results["recengine SVDModel (nested grid search)"].append(_score_ours(config, data.catalog, train, testset))

    print(f"Rating prediction on ml-100k, {OUTER_FOLDS}-fold cross-validation (Surprise KFold, random_state={SEED})\n")
    print("| algorithm | RMSE | MAE | fit time (s) |")
    print("|---|---|---|---|")
    summary = {}
    for label, rows in results.items():
        rmse, mae, seconds = (list(column) for column in zip(*rows))
        summary[label] = {"rmse": statistics.mean(rmse), "mae": statistics.mean(mae), "fit_seconds": statistics.mean(seconds)}
        print(f"| {label} | {statistics.mean(rmse):.4f} ± {statistics.stdev(rmse):.4f} | "
              f"{statistics.mean(mae):.4f} ± {statistics.stdev(mae):.4f} | {statistics.mean(seconds):.2f} |")
    if chosen:
        print(f"\nGrid searched on each outer training fold ({INNER_FOLDS} inner folds): {json.dumps(GRID)}")
        for fold, search in enumerate(chosen, start=1):
            print(f"- fold {fold}: {search['params']} (inner RMSE {search['inner_rmse']:.4f}, search {search['search_seconds']} s)")
        counts = collections.Counter(json.dumps(search["params"], sort_keys=True) for search in chosen)
        print(f"- most frequent cell: {counts.most_common(1)[0][0]} ({counts.most_common(1)[0][1]} of {len(chosen)} folds)")
    if "Surprise SVD++" not in results:
        print("\nSVD++ skipped (--quick or --skip-svdpp).")
    print(f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          "wall-clock fit times on a shared machine are noisy.")
    print(f"Command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    if options.json:
        options.json.write_text(json.dumps({"summary": summary, "chosen": chosen}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
