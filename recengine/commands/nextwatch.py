"""``nextwatch train``, ``nextwatch evaluate`` and ``next``: the sequential next-watch model."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import replace

from recengine.build import artefact_dir
from recengine.catalog import Catalog
from recengine.commands._shared import load_data, positive_int
from recengine.errors import RecEngineError
from recengine.nextwatch.model import NextWatchConfig
from recengine.recommender import RatedMovie, Request

log = logging.getLogger(__name__)


def _quiet_tensorflow() -> None:
    # TensorFlow's C++ start-up notices (CUDA absent, CPU flags) are noise on a CPU-only machine.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _config(options: argparse.Namespace, base: NextWatchConfig) -> NextWatchConfig:
    changes = {}
    for name in ("max_epochs", "max_train_seconds", "patience", "hidden_size", "positional", "seed", "learning_rate", "max_len"):
        value = getattr(options, name, None)
        if value is not None:
            changes[name] = value
    try:
        return replace(base, **changes)
    except ValueError as error:
        raise RecEngineError(f"invalid next-watch setting: {error}") from error


def _train(options: argparse.Namespace) -> int:
    from recengine.nextwatch.recommender import build_params, train_artefact

    _quiet_tensorflow()
    data = load_data(options.dataset)
    config = _config(options, NextWatchConfig(**build_params()))
    folder = artefact_dir("nextwatch", data.name)
    figures = train_artefact(data.ratings, data.catalog, folder, config, progress=sys.stderr.isatty())
    print(f"saved to {folder}")
    for key, value in figures.items():
        print(f"{key:<16} {value}")
    return 0


def _evaluate(options: argparse.Namespace) -> int:
    from recengine.nextwatch.evaluation import (
        encode_split, evaluate_baselines, evaluate_nextwatch, load_benchmark_split, markdown_table,
    )

    _quiet_tensorflow()
    split = load_benchmark_split(options.dataset or "ml-latest-small")
    encoded = encode_split(split)
    rows = [] if options.no_baselines else evaluate_baselines(encoded)
    result, _ = evaluate_nextwatch(encoded, _config(options, NextWatchConfig()), progress=sys.stderr.isatty())
    rows.append(result)
    print(markdown_table(rows, f"{split.summary()} (leave-one-out, full ranking, rated movies removed)"))
    return 0


def _resolve_titles(titles: list[str], catalog: Catalog) -> list[int]:
    from recengine.search import TitleIndex

    index = TitleIndex(catalog)
    movie_ids = []
    for text in titles:
        resolution = index.resolve(text)
        if not resolution.found or resolution.best is None:
            raise RecEngineError(f"no movie matches {text!r}; check the spelling or try `python -m recengine search {text!r}`.")
        if resolution.is_ambiguous:
            choices = ", ".join(catalog.movies.at[m.movie_id, "display_title"] for m in resolution.tied[:3])
            log.warning("%r matches several movies (%s); using the most rated", text, choices)
        movie_ids.append(resolution.best.movie_id)
    return movie_ids


def _next(options: argparse.Namespace) -> int:
    from recengine.nextwatch.recommender import NextWatchModel

    data = load_data(options.dataset)
    catalog = data.catalog
    folder = artefact_dir("nextwatch", data.name)
    model = NextWatchModel.load(folder, catalog)
    if options.user is not None:
        if options.user not in model.histories:
            raise RecEngineError(f"user {options.user} has no ratings in {data.name}; give a dataset user id or use --titles.")
        request = Request(user_id=options.user, n=options.limit)
        watched = model.sequence_for(request)
        print(f"user {options.user}: {len(watched)} ratings, most recent: "
              + "; ".join(catalog.movies.at[m, "display_title"] for m in watched[-3:][::-1] if m in catalog))
    else:
        movie_ids = _resolve_titles(options.titles, catalog)
        history = [RatedMovie(movie_id=movie_id, rating=4.0, timestamp=float(i)) for i, movie_id in enumerate(movie_ids)]
        request = Request(history=history, n=options.limit)
        print("after: " + "; ".join(catalog.movies.at[m, "display_title"] for m in movie_ids))
    result = model.recommend(request)
    if result.fallback_reason:
        print(f"({result.fallback_reason})")
    for rank, item in enumerate(result.items, start=1):
        title = catalog.movies.at[item.movie_id, "display_title"]
        probability = item.details.get("probability")
        extra = f"  p={probability:.3f}" if probability is not None else ""
        print(f"{rank:>2}. {title}{extra}")
    return 0


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", nargs="?", default=None, help="dataset name or path (default: ml-latest-small)")
    parser.add_argument("--max-epochs", type=positive_int, help="most training epochs")
    parser.add_argument("--max-train-seconds", type=float, help="wall-clock bound on training, in seconds")
    parser.add_argument("--patience", type=positive_int, help="validation checks without improvement before stopping")
    parser.add_argument("--hidden-size", type=positive_int, help="embedding and block width")
    parser.add_argument("--max-len", type=positive_int, help="most recent ratings the model reads")
    parser.add_argument("--learning-rate", type=float, help="Adam learning rate")
    parser.add_argument("--positional", choices=("learned", "sinusoidal"), help="positional encoding")
    parser.add_argument("--seed", type=int, help="random seed (default 42)")


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser(
        "nextwatch", help="train or evaluate the sequential next-watch model",
        description="The BERT4Rec-style next-watch model: train its artefact or evaluate it against baselines.",
    )
    actions = group.add_subparsers(dest="nextwatch_command", metavar="ACTION")
    train = actions.add_parser(
        "train", help="train on a dataset and save under models/<dataset>/nextwatch",
        description="Train the next-watch network on every user's ratings in time order, early-stopped on each "
                    "user's last rating, and save it for `next` and the assistant.",
    )
    _add_training_options(train)
    train.set_defaults(handler=_train)
    evaluate = actions.add_parser(
        "evaluate", help="leave-one-out HR@10 and NDCG@10 against popularity and item-to-item transitions",
        description="Split each user's ratings (last = test, second-to-last = validation), train the network "
                    "with early stopping on validation, and rank every movie for the test item. ml-100k uses "
                    "the published split files. Prints a Markdown table.",
    )
    _add_training_options(evaluate)
    evaluate.add_argument("--no-baselines", action="store_true", help="skip popularity and transitions")
    evaluate.set_defaults(handler=_evaluate)
    group.set_defaults(handler=lambda options: group.print_help() or 1)

    nxt = subparsers.add_parser(
        "next", help="what to watch next, for a dataset user or after a list of titles",
        description="Suggest what to watch next with the trained next-watch model "
                    "(build it with `python -m recengine build --only nextwatch`).",
    )
    subject = nxt.add_mutually_exclusive_group(required=True)
    subject.add_argument("--user", type=int, help="dataset user id")
    subject.add_argument("--titles", nargs="+", metavar="TITLE", help="movies watched, oldest first")
    nxt.add_argument("--dataset", default=None, help="dataset name (default: ml-latest-small)")
    nxt.add_argument("--limit", "-n", type=positive_int, default=10, help="number of suggestions (default 10)")
    nxt.set_defaults(handler=_next)
