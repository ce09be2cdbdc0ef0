"""Measure next-watch serving: artefact load time and per-request latency, NumPy versus TensorFlow.

Loads the built artefact (``python -m recengine build --only nextwatch``) and times:

- load: a fresh Python process that imports the recommender and loads the artefact (NumPy path,
  what the assistant does), and the same with the Keras model rebuilt in TensorFlow;
- latency: p50/p95/p99 of ``NextWatchModel.recommend`` for dataset users (their whole history)
  and for chat users (three rated movies). Beside it, TensorFlow scores one user at a time with a
  warmed ``tf.function``.

    .venv/bin/python benchmarks/nextwatch_serving.py --dataset ml-latest-small --requests 500
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from recengine.build import artefact_dir, load_catalog_artefact  # noqa: E402
from recengine.nextwatch.recommender import NextWatchModel  # noqa: E402
from recengine.recommender import RatedMovie, Request  # noqa: E402

_LOAD_NUMPY = """
import time, sys
started = time.perf_counter()
from recengine.nextwatch.recommender import NextWatchModel
model = NextWatchModel.load(sys.argv[1])
model.recommend(__import__("recengine.recommender", fromlist=["Request"]).Request(user_id=next(iter(model.histories))))
print(time.perf_counter() - started)
"""

_LOAD_TENSORFLOW = """
import time, sys
started = time.perf_counter()
from recengine.nextwatch.model import load_network, score_next
model, _ = load_network(sys.argv[1])
score_next(model, [[1, 2, 3]])
print(time.perf_counter() - started)
"""


def _time_process(code: str, folder: Path, repeats: int) -> list[float]:
    seconds = []
    environment = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    for _ in range(repeats):
        output = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True,
                                env=environment, check=True, cwd=REPO)
        seconds.append(float(output.stdout.strip().splitlines()[-1]))
    return seconds


def _percentiles(milliseconds: list[float]) -> str:
    values = np.percentile(np.asarray(milliseconds), [50, 95, 99])
    return " | ".join(f"{value:.2f}" for value in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ml-latest-small")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--load-repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    options = parser.parse_args(argv)

    folder = artefact_dir("nextwatch", options.dataset)
    catalog = load_catalog_artefact(options.dataset).catalog
    model = NextWatchModel.load(folder, catalog)
    rng = np.random.default_rng(options.seed)
    users = rng.choice(np.asarray(sorted(model.histories)), size=options.requests)
    movies = np.asarray(model.vocabulary.movie_ids)[model.popularity > 0]

    dataset_ms, chat_ms = [], []
    for user in users:
        started = time.perf_counter()
        model.recommend(Request(user_id=int(user), n=10))
        dataset_ms.append((time.perf_counter() - started) * 1000)
    for _ in range(options.requests):
        picks = rng.choice(movies, size=3, replace=False)
        history = [RatedMovie(int(movie), 4.0, float(i)) for i, movie in enumerate(picks)]
        started = time.perf_counter()
        model.recommend(Request(history=history, n=10))
        chat_ms.append((time.perf_counter() - started) * 1000)

    from recengine.nextwatch.model import _compile_steps, load_network, score_next

    network, _ = load_network(folder)
    score_step = _compile_steps(network, None, network.config)[1]
    histories = [model.vocabulary.encode(model.histories[int(user)]) for user in users]
    for history in histories[:20]:  # warm the tf.function for the lengths seen
        score_next(network, [history], score_step=score_step)
    tensorflow_ms = []
    for history in histories:
        started = time.perf_counter()
        score_next(network, [history], score_step=score_step)
        tensorflow_ms.append((time.perf_counter() - started) * 1000)

    numpy_load = _time_process(_LOAD_NUMPY, folder, options.load_repeats)
    tensorflow_load = _time_process(_LOAD_TENSORFLOW, folder, options.load_repeats)
    lengths = [len(model.histories[int(user)]) for user in users]
    print(f"**Next-watch serving, {options.dataset}** ({len(model.vocabulary)} movies, max length "
          f"{model.network.config.max_len}, dataset users' median history {int(np.median(lengths))} ratings)\n")
    print("| path | load, fresh process (s, median) | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|")
    print(f"| NumPy `recommend`, dataset user | {np.median(numpy_load):.2f} | {_percentiles(dataset_ms)} |")
    print(f"| NumPy `recommend`, chat user with 3 ratings | same | {_percentiles(chat_ms)} |")
    print(f"| TensorFlow scoring only, warmed tf.function | {np.median(tensorflow_load):.2f} | {_percentiles(tensorflow_ms)} |")
    print(f"\n{options.requests} requests each. Command: {shlex.join(['.venv/bin/python', *sys.argv])}")
    print(f"Machine: {os.cpu_count()} CPU cores shared with other jobs; wall-clock figures are noisy.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
