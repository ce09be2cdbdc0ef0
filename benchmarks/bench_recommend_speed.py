"""Benchmark recommendation latency, training time and memory of SVD and the hybrid.

Usage (from the repository root)::

    nice -n 10 .venv/bin/python benchmarks/bench_recommend_speed.py --skip-scale     # ml-latest-small, a few minutes
    nice -n 10 .venv/bin/python benchmarks/bench_recommend_speed.py                  # plus the 26M-rating synthetic set
    nice -n 10 .venv/bin/python benchmarks/bench_recommend_speed.py --synthetic-folder var/synthetic/ml-synthetic

Each dataset is measured in fresh subprocesses, so peak memory (``ru_maxrss``) belongs to one job:

1. *Training*: load the dataset, train :class:`~recengine.svd.SVDModel` (the rating model, then the
   ranking model) and save it. The table gives wall and CPU seconds per phase and the peak
   resident memory. Beside it, the memory added by building our array-backed trainset and, as the
   baseline it replaces, Surprise's own ``Trainset`` (``Dataset.load_from_df`` and
   ``build_full_trainset``), each in its own process. At scale both use the first
   ``--scale-trainset-ratings`` ratings, because Surprise's structure for all of them could take
   most of the machine's memory.
2. *Requests*: a fresh process loads the saved model and times ``recommend`` calls (p50, p95 and
   p99 in milliseconds over ``--requests`` requests, after a warm-up): the popularity chart
   (baseline), SVD for a trained dataset user, SVD for a chat user folded in from 3 and from 50
   ratings, the hybrid for a chat user with and without a seed movie, and the original design's
   way of ranking with Surprise (``algo.predict`` for every movie in a Python loop), on fewer
   requests because it is slow, and a fold-in with BLAS threads left at the process default
   (``SVDConfig.request_blas_threads=None``). Wall-clock and CPU-time percentiles are both given:
   on a busy machine the wall clock includes waiting for a core, while CPU time is the cost of
   the request itself.

The synthetic dataset is the original design's scale (45,000 movies, 270,000 users, 26 million
ratings, long-tailed popularity) from :mod:`recengine.synthetic`; it is generated under
``var/synthetic/`` when the folder does not exist. At that scale training uses fewer epochs than
the defaults (``--scale-epochs``, ``--scale-rank-epochs``) to keep the run bounded; the table says
how many, and the per-epoch time gives the estimate for the default 20. Wall-clock figures on a
shared machine are noisy.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WARM_UP = 20


# ---------------------------------------------------------------------- children


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _memory_mb(field: str) -> float:
    """Return ``VmRSS`` (current) or ``VmHWM`` (peak) of this process in MiB, from /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field} line")


def _peak_mb() -> float:
    # Not ru_maxrss: after exec it still counts the parent's peak.
    return _memory_mb("VmHWM")


def _reset_peak() -> None:
    """Lower the peak to the current resident size (Linux 4.0 and later), so the next peak is one step's."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def _load(folder: str | None):
    from recengine.movielens import load_dataset, load_folder

    if folder is None:
        return load_dataset("ml-latest-small")
    metadata = Path(folder) / "movie_metadata.csv"
    return load_folder(Path(folder), name=Path(folder).name, imdb_metadata=metadata if metadata.is_file() else None)


def _child_train(folder: str | None, out: str, config_json: str) -> dict:
    from recengine.svd import SVDConfig, SVDModel

    started, cpu = time.perf_counter(), _cpu_seconds()
    data = _load(folder)
    phases = {"load": (time.perf_counter() - started, _cpu_seconds() - cpu, _peak_mb())}
    config = SVDConfig(**json.loads(config_json))
    started, cpu = time.perf_counter(), _cpu_seconds()
    model = SVDModel(data.catalog, config).fit(data.ratings)
    phases["fit"] = (time.perf_counter() - started, _cpu_seconds() - cpu, _peak_mb())
    started = time.perf_counter()
    model.save(Path(out))
    phases["save"] = (time.perf_counter() - started, 0.0, _peak_mb())
    return {"phases": phases, "fit_seconds": model.training_seconds, "ratings": len(data.ratings), "users": model.n_users, "movies": len(data.catalog),
            "peak_mb": _peak_mb()}


def _child_trainset(folder: str | None, kind: str, limit: int) -> dict:
    """Build one kind of trainset over the first ``limit`` ratings; report its time and the memory it added."""
    import pandas as pd

    data = _load(folder)
    ratings = data.ratings.iloc[:limit].copy() if limit else data.ratings
    del data
    gc.collect()
    _reset_peak()
    before = _memory_mb("VmRSS")
    started, cpu = time.perf_counter(), _cpu_seconds()
    if kind == "surprise":
        from surprise import Dataset, Reader

        frame = pd.DataFrame({"user": ratings["user_id"], "item": ratings["movie_id"], "rating": ratings["rating"].astype(float)})
        trainset = Dataset.load_from_df(frame, Reader(rating_scale=(0.5, 5))).build_full_trainset()
        built = trainset.n_ratings
    else:
        from recengine.svd import _ArrayTrainset

        user_codes, _ = pd.factorize(ratings["user_id"].to_numpy(), sort=False)
        item_codes, _ = pd.factorize(ratings["movie_id"].to_numpy(), sort=False)
        trainset = _ArrayTrainset(user_codes, item_codes, ratings["rating"].to_numpy(dtype=np.float64),
                                  int(user_codes.max()) + 1, int(item_codes.max()) + 1)
        built = trainset.n_ratings
    return {"seconds": time.perf_counter() - started, "cpu": _cpu_seconds() - cpu, "peak_added_mb": _peak_mb() - before,
            "retained_mb": _memory_mb("VmRSS") - before, "ratings": built}


def _percentiles(samples: list[float]) -> dict:
    values = np.array(samples)
    return {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)),
            "p99": float(np.percentile(values, 99)), "count": len(values)}


def _time_requests(function, requests) -> dict:
    """Return wall-clock and CPU-time percentiles (ms) of ``function`` over ``requests``."""
    for request in requests[:WARM_UP]:
        function(request)
    wall, cpu = [], []
    for request in requests:
        started, started_cpu = time.perf_counter(), time.process_time()
        function(request)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return {"wall": _percentiles(wall), "cpu": _percentiles(cpu)}


def _child_requests(folder: str | None, model_dir: str, count: int, with_content: bool, seed: int) -> dict:
    from recengine.hybrid import HybridModel
    from recengine.popularity import PopularityModel
    from recengine.recommender import RatedMovie, Request
    from recengine.svd import SVDModel

    data = _load(folder)
    started = time.perf_counter()
    svd = SVDModel.load(Path(model_dir), data.catalog)
    threaded = svd.with_config(svd.config.replace(request_blas_threads=None))
    load_seconds = time.perf_counter() - started
    content = None
    content_seconds = None
    if with_content:
        from recengine.content import ContentModel

        started = time.perf_counter()
        content = ContentModel.fit(data.catalog)
        content_seconds = time.perf_counter() - started
    popularity = PopularityModel(data.catalog)
    hybrid = HybridModel(data.catalog, svd, content, popularity)
    rng = np.random.default_rng(seed)

    ratings = data.ratings.sort_values(["user_id", "timestamp"], kind="mergesort")
    by_user = ratings.groupby("user_id")
    active = [user for user, size in by_user.size().items() if size >= 50]
    users = rng.choice(active, size=count, replace=True)
    chosen = ratings[ratings["user_id"].isin(set(users.tolist()))]
    first = {int(user): group.head(50) for user, group in chosen.groupby("user_id")}

    def history(user: int, size: int) -> tuple:
        rows = first[int(user)].head(size)
        return tuple(RatedMovie(int(m), float(r), float(t)) for m, r, t in zip(rows["movie_id"], rows["rating"], rows["timestamp"]))

    popular_seeds = data.catalog.movies["rating_count"].nlargest(500).index.to_numpy()
    seeds = rng.choice(popular_seeds, size=count)
    scenarios = {
        "popularity chart (baseline)": (popularity.recommend, [Request(n=10, history=history(u, 3)) for u in users]),
        "svd, trained dataset user": (svd.recommend, [Request(user_id=int(u), n=10) for u in users]),
        "svd, chat user, 3 ratings (fold-in)": (svd.recommend, [Request(history=history(u, 3), n=10) for u in users]),
        "svd, chat user, 50 ratings (fold-in)": (svd.recommend, [Request(history=history(u, 50), n=10) for u in users]),
        "svd, chat user, 3 ratings, BLAS threads not limited": (
            threaded.recommend, [Request(history=history(u, 3), n=10) for u in users]),
        "hybrid, chat user, 10 ratings": (hybrid.recommend, [Request(history=history(u, 10), n=10) for u in users]),
    }
    if content is not None:
        scenarios["hybrid, chat user, 10 ratings + seed"] = (
            hybrid.recommend, [Request(history=history(u, 10), seed_movie_id=int(s), n=10) for u, s in zip(users, seeds)])
        scenarios["content similar (baseline)"] = (
            lambda request: content.similar(request.seed_movie_id, n=10), [Request(seed_movie_id=int(s), n=10) for s in seeds])
    results = {label: _time_requests(function, requests) for label, (function, requests) in scenarios.items()}
    results["surprise predict loop (original design)"] = _surprise_loop(svd, users[: max(5, count // 25)])
    return {"load_seconds": load_seconds, "content_fit_seconds": content_seconds, "latency": results,
            "movies": len(data.catalog), "model_movies": svd.n_items}


def _surprise_loop(svd, users) -> dict:
    """Time ranking all movies with one ``predict`` call per movie, as the original design did."""
    from surprise import SVD

    algorithm = SVD(n_factors=svd.config.n_factors)
    # A minimal trainset view over our learnt arrays, enough for SVD.predict's lookups.
    algorithm.bu, algorithm.bi = svd.rating_model.user_bias, svd.rating_model.item_bias
    algorithm.pu, algorithm.qi = svd.rating_model.user_factors, svd.rating_model.item_factors

    class _Lookup:
        global_mean = svd.rating_model.global_mean
        rating_scale = (0.5, 5.0)
        _users = {key: index for index, key in enumerate(svd.user_keys)}
        _items = {int(movie_id): index for index, movie_id in enumerate(svd.item_ids.tolist())}

        def knows_user(self, uid): return uid in self._users  # noqa: E704
        def knows_item(self, iid): return iid in self._items  # noqa: E704
        def to_inner_uid(self, ruid): return self._users[ruid]  # noqa: E704
        def to_inner_iid(self, riid): return self._items[riid]  # noqa: E704

    algorithm.trainset = _Lookup()
    movie_ids = svd.item_ids.tolist()

    def rank(user) -> None:
        key = f"d:{int(user)}"
        estimates = [algorithm.predict(key, movie_id).est for movie_id in movie_ids]
        np.argsort(estimates)[-10:]

    return _time_requests(rank, list(users))


# ---------------------------------------------------------------------- driver


def _run_child(arguments: list[str]) -> dict:
    completed = subprocess.run([sys.executable, __file__, "--child", *arguments], capture_output=True, text=True, cwd=ROOT)
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark subprocess {arguments[0]} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _measure(label: str, folder: str | None, config: dict, work: Path, count: int, with_content: bool,
             trainset_limit: int = 0) -> dict:
    model_dir = work / f"svd-{label}"
    print(f"[{label}] training", file=sys.stderr, flush=True)
    training = _run_child(["train", folder or "", str(model_dir), json.dumps(config)])
    print(f"[{label}] trainset memory, ours and Surprise's", file=sys.stderr, flush=True)
    baseline = {kind: _run_child(["trainset", folder or "", kind, str(trainset_limit)]) for kind in ("ours", "surprise")}
    print(f"[{label}] requests", file=sys.stderr, flush=True)
    requests = _run_child(["requests", folder or "", str(model_dir), str(count), "1" if with_content else "0"])
    return {"training": training, "trainsets": baseline, "requests": requests, "config": config}


def _print_tables(results: dict) -> None:
    print("### Training (one subprocess per dataset)\n")
    print("| dataset | ratings | users | movies | phase | wall s | CPU s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for label, result in results.items():
        training = result["training"]
        for phase, (wall, cpu, peak) in training["phases"].items():
            print(f"| {label} | {training['ratings']:,} | {training['users']:,} | {training['movies']:,} | {phase} | "
                  f"{wall:.1f} | {cpu:.1f} | {peak:,.0f} |")
        for kind, name in (("ours", "array trainset (ours)"), ("surprise", "Surprise Trainset (baseline)")):
            built = result["trainsets"][kind]
            print(f"| {label} | {built['ratings']:,} | | | build {name} | {built['seconds']:.1f} | {built['cpu']:.1f} | "
                  f"+{built['peak_added_mb']:,.0f} at peak, +{built['retained_mb']:,.0f} kept |")
    print("\nFit split by model (wall s): " + "; ".join(
        f"{label}: " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in result["training"]["fit_seconds"].items())
        for label, result in results.items()))
    from recengine.svd import SVDConfig

    defaults = SVDConfig()
    for label, result in results.items():
        epochs = result["config"].get("n_epochs", defaults.n_epochs), result["config"].get("rank_n_epochs", defaults.rank_n_epochs)
        if epochs == (defaults.n_epochs, defaults.rank_n_epochs):
            continue
        seconds = result["training"]["fit_seconds"]
        # An estimate: it scales the whole fit, data preparation included, by the epoch ratio.
        estimate = seconds["rating model"] * defaults.n_epochs / epochs[0] + seconds.get("ranking model", 0.0) * defaults.rank_n_epochs / epochs[1]
        print(f"\nEstimated fit at the default epochs ({defaults.n_epochs} and {defaults.rank_n_epochs}) for {label}: "
              f"about {estimate / 60:.0f} minutes (wall, scaled from the epochs used)")
    print("\nEpochs used: " + "; ".join(
        f"{label}: rating model {result['config'].get('n_epochs', defaults.n_epochs)}, "
        f"ranking model {result['config'].get('rank_n_epochs', defaults.rank_n_epochs)}"
        for label, result in results.items()))
    print("\n### Request latency (ms, fresh process, after a warm-up)\n")
    print("| dataset | request | wall p50 | wall p95 | wall p99 | CPU p50 | CPU p95 | requests |")
    print("|---|---|---|---|---|---|---|---|")
    for label, result in results.items():
        for request, timing in result["requests"]["latency"].items():
            wall, cpu = timing["wall"], timing["cpu"]
            print(f"| {label} | {request} | {wall['p50']:.2f} | {wall['p95']:.2f} | {wall['p99']:.2f} | "
                  f"{cpu['p50']:.2f} | {cpu['p95']:.2f} | {wall['count']} |")
        extra = result["requests"]
        note = f"model load {extra['load_seconds']:.1f} s"
        if extra["content_fit_seconds"] is not None:
            note += f", content fit {extra['content_fit_seconds']:.1f} s"
        print(f"| {label} | ({note}) | | | | | | |")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, arguments = sys.argv[2], sys.argv[3:]
        folder = arguments[0] or None
        if mode == "train":
            result = _child_train(folder, arguments[1], arguments[2])
        elif mode == "trainset":
            result = _child_trainset(folder, arguments[1], int(arguments[2]))
        else:
            result = _child_requests(folder, arguments[1], int(arguments[2]), arguments[3] == "1", seed=0)
        print(json.dumps(result))
        return 0

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="timed requests per scenario (default 500)")
    parser.add_argument("--skip-scale", action="store_true", help="measure ml-latest-small only")
    parser.add_argument("--synthetic-folder", type=Path, default=None,
                        help="synthetic dataset folder (default var/synthetic/bench-scale, generated when missing)")
    parser.add_argument("--scale-epochs", type=int, default=5, help="rating-model epochs at scale (default 5; the model default is 20)")
    parser.add_argument("--scale-rank-epochs", type=int, default=3, help="ranking-model epochs at scale (default 3)")
    parser.add_argument("--scale-content", action="store_true", help="also fit the content model at scale for seeded hybrid requests")
    parser.add_argument("--scale-trainset-ratings", type=int, default=2_600_000,
                        help="ratings for the trainset memory comparison at scale (default 2,600,000: Surprise's "
                             "Trainset of all 26 million could take most of the machine's memory)")
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench-speed", help="folder for the trained models")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results to this JSON file")
    options = parser.parse_args()
    options.work.mkdir(parents=True, exist_ok=True)

    results = {"ml-latest-small": _measure("ml-latest-small", None, {}, options.work, options.requests, True)}
    if not options.skip_scale:
        folder = options.synthetic_folder or ROOT / "var" / "synthetic" / "bench-scale"
        if not (folder / "ratings.csv").is_file():
            from recengine.synthetic import generate_dataset

            print(f"generating {folder}", file=sys.stderr, flush=True)
            generate_dataset(folder)
        config = {"n_epochs": options.scale_epochs, "rank_n_epochs": options.scale_rank_epochs}
        results["synthetic 26M"] = _measure("synthetic 26M", str(folder), config, options.work, options.requests,
                                            options.scale_content, trainset_limit=options.scale_trainset_ratings)

    _print_tables(results)
    print(f"\nMachine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, load average "
          f"{os.getloadavg()[0]:.1f} at the end; other jobs were running, so wall-clock figures are noisy.")
    print(f"Command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
