"""Exceptions the engine raises for problems a user can fix."""

from __future__ import annotations

__all__ = ["RecEngineError", "DatasetError", "InvalidRatingError", "UnknownMovieError", "ArtefactError"]


class RecEngineError(Exception):
    """Base class: the message is written for the person running the command, not for a developer."""


class DatasetError(RecEngineError):
    """A dataset file is missing, truncated or malformed; the message names the file and the problem."""


class InvalidRatingError(RecEngineError, ValueError):
    """A rating value is outside 0.5–5 or not a multiple of 0.5."""


class UnknownMovieError(RecEngineError, KeyError):
    """A movie id is not in the catalog."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown movie"


class ArtefactError(RecEngineError):
    """A trained artefact is missing, stale or unreadable; the message says which command rebuilds it."""
