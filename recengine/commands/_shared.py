"""Helpers that several command modules use; the leading underscore keeps the CLI from loading it as a command."""

from __future__ import annotations

import argparse
import sys

from recengine.build import load_catalog_artefact
from recengine.catalog import Catalog
from recengine.errors import ArtefactError, UnknownMovieError
from recengine.movielens import MovieLensData, load_dataset


def positive_int(text: str, label: str = "number") -> int:
    """Parse a command-line value that must be an integer of 1 or more. ``label`` names the value in errors."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid {label} {text!r}: expected a positive integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid {label} {value}: expected 1 or more")
    return value


def load_data(dataset: str | None) -> MovieLensData:
    """Load the catalog and ratings from the built artefact when there is one, else from the dataset files."""
    try:
        return load_catalog_artefact(dataset)
    except ArtefactError:
        return load_dataset(dataset)


def resolve_movie(text: str, catalog: Catalog) -> int:
    """Return the movie id for an id or a title, printing the other candidates of an ambiguous title."""
    if text.strip().isdigit():
        movie_id = int(text)
        if movie_id not in catalog:
            raise UnknownMovieError(f"movie id {movie_id} is not in the {catalog.name} catalog; `python -m recengine search TITLE` finds ids.")
        return movie_id
    from recengine.search import TitleIndex

    resolution = TitleIndex(catalog).resolve(text)
    if not resolution.found:
        raise UnknownMovieError(f"no movie title matches {text!r}; try `python -m recengine search {text!r}` or give a movie id.")
    if resolution.is_ambiguous:
        others = ", ".join(f"{catalog.movie(match.movie_id).display_title} ({match.movie_id})" for match in resolution.tied[1:5])
        print(f"({text!r} also matches {others}; give the movie id to choose)", file=sys.stderr)
    return resolution.best.movie_id
