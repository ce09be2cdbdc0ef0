"""``search``, ``top``, ``people`` and ``movie``: look things up in the catalog."""

from __future__ import annotations

import argparse

from recengine.commands._shared import load_data


def _search(options: argparse.Namespace) -> int:
    from recengine.search import TitleIndex

    catalog = load_data(options.dataset).catalog
    resolution = TitleIndex(catalog).resolve(options.text, limit=options.limit)
    if not resolution.found:
        print(f"No movie matches {options.text!r}.")
        return 1
    tied = {match.movie_id for match in resolution.tied}
    for match in resolution.matches:
        movie = catalog.movie(match.movie_id)
        mark = "=" if match.movie_id in tied and resolution.is_ambiguous else " "
        print(f"{match.score:6.1f} {mark} {movie.movie_id:>7}  {movie.display_title}  ({movie.rating_count} ratings)")
    if resolution.is_ambiguous:
        print(f"\n{len(tied)} movies share the top score (=): the assistant asks which one is meant.")
    return 0


def _top(options: argparse.Namespace) -> int:
    from recengine.popularity import PopularityConfig, PopularityModel

    catalog = load_data(options.dataset).catalog
    year_from, year_to = options.year_from, options.year_to
    if options.decade is not None:
        year_from, year_to = options.decade, options.decade + 9
    if options.year is not None:
        year_from = year_to = options.year
    genre = options.genre
    if genre is not None:
        known = {name.casefold(): name for name in catalog.genres}
        if genre.casefold() not in known:
            print(f"Unknown genre {genre!r}. Genres: {', '.join(catalog.genres)}.")
            return 2
        genre = known[genre.casefold()]
    model = PopularityModel(catalog, PopularityConfig(percentile=options.percentile))
    stats = model.statistics(genre)
    chart = model.chart(genre, year_from, year_to, n=options.limit)
    print(f"m = {stats.m:g} ratings, C = {stats.C:.3f}, {stats.qualified} qualified movies")
    for rank, item in enumerate(chart.items, 1):
        movie = catalog.movie(item.movie_id)
        print(f"{rank:>3}. {movie.display_title:<60} WR {item.score:.3f}  ({movie.rating_mean:.2f} from {movie.rating_count})")
    if not chart.items:
        print("No qualified movie matches these filters.")
    return 0


def _people(options: argparse.Namespace) -> int:
    from recengine.people import PeopleIndex

    catalog = load_data(options.dataset).catalog
    matches = PeopleIndex(catalog).find(options.name)
    if not matches:
        print(f"No director or actor matches {options.name!r}.")
        return 1
    for match in matches:
        print(f"{match.name} (score {match.score:g})")
        for role, ids in (("directed", match.directed), ("acted in", match.acted)):
            if ids:
                titles = ", ".join(catalog.movie(movie_id).display_title for movie_id in ids[: options.limit])
                print(f"  {role}: {titles}")
    return 0


def _movie(options: argparse.Namespace) -> int:
    from recengine.search import TitleIndex

    catalog = load_data(options.dataset).catalog
    if options.title.isdigit() and int(options.title) in catalog:
        movie = catalog.movie(int(options.title))
    else:
        resolution = TitleIndex(catalog).resolve(options.title)
        if not resolution.found:
            print(f"No movie matches {options.title!r}.")
            return 1
        movie = catalog.movie(resolution.best.movie_id)
    print(movie.display_title)
    print(f"  id {movie.movie_id}, genres {', '.join(movie.genres) or 'none listed'}")
    if movie.rating_mean is not None:
        print(f"  rated {movie.rating_mean:.2f} on average by {movie.rating_count} users")
    for label, value in (("director", movie.director), ("cast", ", ".join(movie.cast)), ("keywords", ", ".join(movie.keywords)),
                         ("tags", ", ".join(movie.tags[:10])), ("IMDb", movie.imdb_url)):
        if value:
            print(f"  {label}: {value}")
    return 0


def _add_dataset_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default=None, help="dataset name or path (default: the built catalog, else ml-latest-small)")


def register(subparsers: argparse._SubParsersAction) -> None:
    search = subparsers.add_parser(
        "search",
        help="find movies by title, tolerating typos, articles, accents and years",
        description="Resolve free text to catalog movies and print the ranked candidates with their scores (100 = exact).",
    )
    search.add_argument("text", help='what a person would type, for example "the matrx" or "heat 1995"')
    search.add_argument("--limit", type=int, default=5, help="candidates to print (default 5)")
    _add_dataset_option(search)
    search.set_defaults(handler=_search)

    top = subparsers.add_parser(
        "top",
        help="print a chart ranked by IMDB weighted rating",
        description=(
            "Rank movies by WR = v/(v+m)·R + m/(v+m)·C, where m is the vote count at --percentile of all "
            "vote counts and C the mean of mean ratings; with --genre both are computed within the genre."
        ),
    )
    top.add_argument("--genre", help="one MovieLens genre, for example Romance or Sci-Fi")
    top.add_argument("--year", type=int, help="only movies released in this year")
    top.add_argument("--decade", type=int, help="only movies of this decade, given by its first year (1990)")
    top.add_argument("--year-from", type=int, help="earliest release year, inclusive")
    top.add_argument("--year-to", type=int, help="latest release year, inclusive")
    top.add_argument("--limit", type=int, default=10, help="movies to print (default 10)")
    top.add_argument("--percentile", type=float, default=75.0, help="percentile of vote counts that sets m (default 75)")
    _add_dataset_option(top)
    top.set_defaults(handler=_top)

    people = subparsers.add_parser("people", help="find a director or actor and list their movies")
    people.add_argument("name", help='full name or surname, for example "aronofsky"')
    people.add_argument("--limit", type=int, default=10, help="movies to list per role (default 10)")
    _add_dataset_option(people)
    people.set_defaults(handler=_people)

    movie = subparsers.add_parser("movie", help="show what the catalog knows about one movie")
    movie.add_argument("title", help="a title (resolved like `search`) or a movie id")
    _add_dataset_option(movie)
    movie.set_defaults(handler=_movie)
