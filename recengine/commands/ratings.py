"""``ratings``: list, add, delete and import the ratings in the ratings store."""

from __future__ import annotations

import argparse
import logging

from tqdm import tqdm

from recengine.commands._shared import positive_int
from recengine.config import get_settings
from recengine.errors import DatasetError, UnknownMovieError
from recengine.movielens import load_dataset
from recengine.store import RatingsStore, StoredRating, parse_rating

log = logging.getLogger(__name__)


def _movie_id(text: str) -> int:
    """Parse a movie id option; argparse turns the error into a usage message with exit status 2."""
    return positive_int(text, "movie id")


def _open_store(options: argparse.Namespace) -> RatingsStore:
    return RatingsStore(options.database or get_settings().database_url)


def _titles(options: argparse.Namespace) -> dict[int, str]:
    """Return display titles of the configured catalog, or none when it cannot be loaded."""
    try:
        catalog = load_dataset(options.dataset, with_metadata=False).catalog
    except DatasetError as error:
        log.warning("Showing ratings without titles because the catalog did not load: %s", error)
        return {}
    return catalog.movies["display_title"].to_dict()


def _format_rating(rating: StoredRating, title: str | None) -> str:
    when = rating.rated_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    line = f"{rating.movie_id:>8}  {rating.rating:>3.1f}  {when}  {rating.source:<12}"
    return f"{line}  {title}" if title else line.rstrip()


def _list(options: argparse.Namespace) -> int:
    with _open_store(options) as store:
        ratings = store.ratings_for(options.user)
    if not ratings:
        print(f"User {options.user!r} has no ratings.")
        return 0
    titles = {} if options.no_titles else _titles(options)
    print(f"{'movie_id':>8}  {'stars':>3}  {'rated at':<23}  {'source':<12}  title")
    for rating in ratings:
        print(_format_rating(rating, titles.get(rating.movie_id)))
    print(f"{len(ratings)} rating(s), oldest first.")
    return 0


def _add(options: argparse.Namespace) -> int:
    value = parse_rating(options.rating)
    data = load_dataset(options.dataset, with_metadata=False)
    movies = data.catalog.movies
    if options.movie not in movies.index:
        raise UnknownMovieError(
            f"Movie id {options.movie} is not in the {data.name} catalog ({len(movies):,} movies). "
            "Find a movie's id with: python -m recengine search TITLE"
        )
    title = movies.at[options.movie, "display_title"]
    with _open_store(options) as store:
        previous = store.get(options.user, options.movie)
        stored = store.rate(options.user, options.movie, value)
    replaced = f" (replacing {previous.rating:.1f})" if previous is not None else ""
    print(f"User {stored.user_key!r} rated {title} (movie {stored.movie_id}) {stored.rating:.1f}{replaced}.")
    return 0


def _delete(options: argparse.Namespace) -> int:
    with _open_store(options) as store:
        if options.all:
            deleted = store.delete_all(options.user)
            print(f"Deleted {deleted} rating(s) of user {options.user!r}.")
        elif store.delete(options.user, options.movie):
            print(f"Deleted the rating of movie {options.movie} by user {options.user!r}.")
        else:
            print(f"User {options.user!r} has no rating of movie {options.movie}; nothing deleted.")
    return 0


def _import(options: argparse.Namespace) -> int:
    data = load_dataset(options.dataset, with_metadata=False)
    with _open_store(options) as store, tqdm(
        total=len(data.ratings), unit="rating", desc=f"import {data.name}", disable=options.quiet,
    ) as bar:
        count = store.import_dataset(data.ratings, options.prefix, progress=bar.update)
        users = data.ratings["user_id"].nunique()
        print(f"Stored {count:,} ratings of {users:,} {data.name} users as {options.prefix}<user id> in {store.url}.")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database",
        metavar="URL",
        help="SQLAlchemy URL of the ratings store (default: RECENGINE_DATABASE_URL or sqlite:///var/ratings.db)",
    )

    parser = subparsers.add_parser(
        "ratings",
        help="list, add, delete or import stored ratings",
        description=(
            "Manage the ratings store that the assistant writes to: ratings are 0.5 to 5 stars in "
            "steps of 0.5, one per user and movie (rating a movie again replaces the earlier rating)."
        ),
    )
    actions = parser.add_subparsers(dest="ratings_command", metavar="ACTION", required=True)

    list_parser = actions.add_parser("list", parents=[common], help="list a user's ratings, oldest first")
    list_parser.add_argument("--user", required=True, metavar="KEY", help="user key, such as a chat sender id or ml:1")
    list_parser.add_argument("--dataset", default=None, help="dataset whose titles are shown (default: RECENGINE_DATASET)")
    list_parser.add_argument("--no-titles", action="store_true", help="do not load the catalog to show titles")
    list_parser.set_defaults(handler=_list)

    add_parser = actions.add_parser("add", parents=[common], help="store or replace a user's rating of a movie")
    add_parser.add_argument("--user", required=True, metavar="KEY", help="user key, such as a chat sender id")
    add_parser.add_argument("--movie", required=True, type=_movie_id, metavar="ID", help="catalog movie id")
    add_parser.add_argument("--rating", required=True, metavar="STARS", help="0.5 to 5 in steps of 0.5, such as 4.5")
    add_parser.add_argument("--dataset", default=None, help="catalog the movie id must exist in (default: RECENGINE_DATASET)")
    add_parser.set_defaults(handler=_add)

    delete_parser = actions.add_parser("delete", parents=[common], help="delete one rating or all ratings of a user")
    delete_parser.add_argument("--user", required=True, metavar="KEY", help="user key")
    target = delete_parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--movie", type=_movie_id, metavar="ID", help="delete the rating of this movie")
    target.add_argument("--all", action="store_true", help="delete every rating of the user (marks stay)")
    delete_parser.set_defaults(handler=_delete)

    import_parser = actions.add_parser(
        "import",
        parents=[common],
        help="store a dataset's ratings with source 'dataset'",
        description=(
            "Store every rating of a MovieLens dataset, dataset user N as user key PREFIXN. Running it "
            "again replaces the same ratings instead of duplicating them."
        ),
    )
    import_parser.add_argument("dataset", nargs="?", default=None, help="dataset name or path (default: RECENGINE_DATASET)")
    import_parser.add_argument("--prefix", default="ml:", help="prefix of the imported user keys (default: ml:)")
    import_parser.add_argument("--quiet", action="store_true", help="hide the progress bar")
    import_parser.set_defaults(handler=_import)
