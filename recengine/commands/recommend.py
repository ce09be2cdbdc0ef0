"""``recommend``, ``hybrid`` and ``retrain``: personal lists from SVD and the hybrid on the command line."""

from __future__ import annotations

import argparse
import json
import sys
import time

from recengine.catalog import Catalog
from recengine.commands._shared import load_data, positive_int, resolve_movie
from recengine.errors import ArtefactError, RecEngineError
from recengine.recommender import RatedMovie, Recommendations, Request


def _svd(dataset: str | None, catalog: Catalog):
    from recengine.svd import load_svd_artefact

    return load_svd_artefact(catalog, dataset)


def _request(options: argparse.Namespace, data, seed: int | None = None) -> Request:
    """Build the request for a dataset user (``--user``), a chat user (``--chat-user``) or a new user."""
    history: tuple[RatedMovie, ...] = ()
    exclude: frozenset[int] = frozenset()
    user_id = None
    if options.user is not None:
        ratings = data.ratings[data.ratings["user_id"] == options.user].sort_values("timestamp", kind="mergesort")
        if ratings.empty:
            known = data.ratings["user_id"]
            raise RecEngineError(f"user {options.user} has no ratings in {data.name}; dataset users are {known.min()}–{known.max()}.")
        user_id = options.user
        history = tuple(RatedMovie(int(m), float(r), float(t)) for m, r, t in zip(ratings["movie_id"], ratings["rating"], ratings["timestamp"]))
    elif options.chat_user is not None:
        from recengine.store import RatingsStore

        store = RatingsStore()
        try:
            history = tuple(item.as_rated_movie() for item in store.ratings_for(options.chat_user))
            exclude = frozenset(store.marked(options.chat_user))
        finally:
            store.close()
    return Request(history=history, seed_movie_id=seed, n=options.n, exclude=exclude, user_id=user_id,
                   genre=options.genre, year_from=options.year_from, year_to=options.year_to)


def _print(result: Recommendations, catalog: Catalog, heading: str, as_json: bool) -> int:
    if as_json:
        print(json.dumps({
            "source": result.source, "fallback_reason": result.fallback_reason,
            "items": [{"movie_id": item.movie_id, "title": catalog.movie(item.movie_id).display_title, "score": item.score,
                       "predicted_rating": item.predicted_rating, "reason": item.reason, "source": item.source}
                      for item in result.items],
        }, indent=2))
        return 0 if result.items else 1
    print(f"{heading} (from {result.source}{'; ' + result.fallback_reason if result.fallback_reason else ''}):")
    if not result.items:
        print("  nothing to suggest")
        return 1
    for rank, item in enumerate(result.items, start=1):
        stars = f", predicted {item.predicted_rating:.1f}★" if item.predicted_rating is not None else ""
        print(f"{rank:>3}. {catalog.movie(item.movie_id).display_title}  [{item.movie_id}{stars}]")
        print(f"     {item.reason}")
    return 0


def _who(options: argparse.Namespace) -> str:
    if options.user is not None:
        return f"user {options.user}"
    if options.chat_user is not None:
        return f"chat user {options.chat_user!r}"
    return "a new user"


def _recommend(options: argparse.Namespace) -> int:
    data = load_data(options.dataset)
    request = _request(options, data)
    model = _svd(options.dataset, data.catalog) if options.model == "svd" else _hybrid(options.dataset, data.catalog)
    result = model.recommend(request)
    if options.model == "svd" and not result.items and result.fallback_reason:
        result = Recommendations([], "svd", f"{result.fallback_reason}: rate a few movies first, or use --model hybrid for the chart")
    return _print(result, data.catalog, f"Picks for {_who(options)}", options.json)


def _hybrid(dataset: str | None, catalog: Catalog):
    from recengine.content import load_content_artefact
    from recengine.hybrid import HybridModel
    from recengine.popularity import PopularityModel

    try:
        content = load_content_artefact(dataset)
    except ArtefactError as error:
        print(f"(content model not available: {error})", file=sys.stderr)
        content = None
    return HybridModel(catalog, _svd(dataset, catalog), content, PopularityModel(catalog))


def _hybrid_command(options: argparse.Namespace) -> int:
    data = load_data(options.dataset)
    seed = resolve_movie(options.seed, data.catalog) if options.seed else None
    request = _request(options, data, seed)
    result = _hybrid(options.dataset, data.catalog).recommend(request)
    heading = f"Hybrid picks for {_who(options)}" + (f", like {data.catalog.movie(seed).display_title}" if seed else "")
    return _print(result, data.catalog, heading, options.json)


def _retrain(options: argparse.Namespace) -> int:
    from recengine.build import artefact_dir, build_artefacts, read_manifest

    started = time.perf_counter()
    outcome = build_artefacts(options.dataset, only=["svd"], force=True, seed=options.seed)["svd"]
    manifest = read_manifest(artefact_dir("svd", options.dataset)) or {}
    print(f"svd          {outcome}")
    print(f"ratings      {manifest.get('ratings', 0):,} ({manifest.get('conversation_ratings', 0):,} from conversations)")
    print(f"users        {manifest.get('users', 0):,}")
    print(f"seconds      {time.perf_counter() - started:.1f}")
    return 0


def _add_user_options(parser: argparse.ArgumentParser, required: bool) -> None:
    who = parser.add_mutually_exclusive_group(required=required)
    who.add_argument("--user", type=positive_int, help="dataset user id (their dataset ratings are the history)")
    who.add_argument("--chat-user", metavar="KEY", help="user key in the ratings store (a conversation's sender id)")
    parser.add_argument("--dataset", default=None, help="dataset name or path (default: RECENGINE_DATASET or ml-latest-small)")
    parser.add_argument("-n", type=positive_int, default=10, help="number of movies (default 10)")
    parser.add_argument("--genre", default=None, help="only movies of this genre")
    parser.add_argument("--year-from", type=int, default=None, help="only movies released in or after this year")
    parser.add_argument("--year-to", type=int, default=None, help="only movies released in or before this year")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def register(subparsers: argparse._SubParsersAction) -> None:
    recommend = subparsers.add_parser(
        "recommend",
        help="personal picks for a dataset or chat user from SVD (or the hybrid)",
        description=(
            "Rank every movie for one user with the SVD model built by `python -m recengine build` and explain each "
            "pick. A chat user's ratings in the store are folded in at once, without retraining."
        ),
    )
    _add_user_options(recommend, required=True)
    recommend.add_argument("--model", choices=("svd", "hybrid"), default="svd", help="model to ask (default svd)")
    recommend.set_defaults(handler=_recommend)

    hybrid = subparsers.add_parser(
        "hybrid",
        help="hybrid picks: movies like a seed re-ranked for the user, or personal picks",
        description=(
            "With --seed: the seed's content neighbours re-ranked by the user's predicted rating (by what people who "
            "liked the seed watch, for a user with no ratings). Without: the user's personal SVD list explained by "
            "their liked movies, or the popularity chart for a new user."
        ),
    )
    _add_user_options(hybrid, required=False)
    hybrid.add_argument("--seed", metavar="TITLE_OR_ID", help="the movie to find more like (title or movie id)")
    hybrid.set_defaults(handler=_hybrid_command)

    retrain = subparsers.add_parser(
        "retrain",
        help="retrain SVD on the dataset plus every conversational rating in the store",
        description=(
            "Rebuild the svd artefact so conversational ratings become part of the trained model (they are folded in "
            "per request until then). Takes about a minute on ml-latest-small."
        ),
    )
    retrain.add_argument("dataset", nargs="?", default=None, help="dataset name or path (default: ml-latest-small)")
    retrain.add_argument("--seed", type=int, default=42, help="random seed of the training (default 42)")
    retrain.set_defaults(handler=_retrain)
