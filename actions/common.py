"""What every action shares: the engine loaded once, the turn being answered, error handling.

The action server imports this package once at start-up and creates one instance of each
action class; each instance asks :func:`get_service` for the engine, which loads it the first
time and returns the same read-only object afterwards. Per-conversation state never lives
here: it travels in slots (pending questions, the last list) and in the ratings store.
"""

from __future__ import annotations

import json
import logging
import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Dict, Iterable, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from recengine.catalog import Movie
from recengine.parsing import clean_text, find_genres, has_meaning, normalise_genre, parse_years
from recengine.service import MovieCard, MovieList, MovieService

__all__ = [
    "get_service", "MovieAction", "Turn", "show_list", "movie_buttons", "ask_which_movie", "clear_pending",
    "SLOT_AWAITING", "SLOT_PENDING_MOVIE", "SLOT_PENDING_INTENT", "SLOT_PENDING_SCORE", "SLOT_CANDIDATES",
    "SLOT_ONBOARDING", "SLOT_LAST_RATED", "SLOT_LAST_LIST", "genres_and_years",
]

log = logging.getLogger(__name__)

SLOT_AWAITING = "awaiting"
"""The question the bot asked last and still waits for: "score", "choice", "seen" or "forget"."""
SLOT_PENDING_MOVIE = "pending_movie_id"
SLOT_PENDING_INTENT = "pending_intent"
"""What to do with the movie the user picks from buttons: "similar", "info", "rate", "seen", "not_interested"."""
SLOT_PENDING_SCORE = "pending_score"
SLOT_CANDIDATES = "candidate_ids"
SLOT_ONBOARDING = "onboarding_queue"
SLOT_LAST_RATED = "last_rated_movie_id"
SLOT_LAST_LIST = "last_list"


@lru_cache(maxsize=1)
def get_service() -> MovieService | None:
    """Load the engine the first time it is needed and return the same instance afterwards.

    Returns None when the catalog cannot be loaded at all, after logging why; actions then
    apologise instead of failing. Restart the action server after building the artefacts.
    """
    try:
        return MovieService.load()
    except Exception:  # noqa: BLE001 - the server must start and answer even without an engine
        log.exception("The movie engine could not be loaded; every request will get an apology")
        return None


_PAYLOAD = re.compile(r"^/[A-Za-z_][\w-]*(?:\{.*\})?\s*$", re.DOTALL)


@dataclass
class Turn:
    """The user message an action answers, read once from the tracker."""

    sender: str
    text: str
    intent: str | None
    entities: list[dict[str, Any]]
    slots: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_tracker(cls, tracker: Tracker) -> "Turn":
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name")
        text = clean_text(message.get("text") or "")
        # A button sends "/intent{...}": its data arrive as entities, and the text is not the user's words.
        if _PAYLOAD.match(text):
            text = ""
        return cls(
            sender=str(tracker.sender_id),
            text=text,
            intent=intent,
            entities=list(message.get("entities") or []),
            slots=dict(tracker.slots or {}),
        )

    def entity(self, name: str) -> dict[str, Any] | None:
        """Return the first entity of that type, with its value and span when the NLU gave one."""
        for entity in self.entities:
            if entity.get("entity") == name and entity.get("value") not in (None, ""):
                return entity
        return None

    def entity_text(self, name: str) -> tuple[str | None, tuple[int, int] | None]:
        """Return an entity's text as typed (not its synonym value) and its span."""
        entity = self.entity(name)
        if entity is None:
            return None, None
        start, end = entity.get("start"), entity.get("end")
        if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(self.text):
            return self.text[start:end], (start, end)
        return str(entity["value"]), None

    def entity_number(self, name: str) -> float | None:
        """Return an entity's value as a number (button payloads such as ``{"score": 4}``), else None."""
        entity = self.entity(name)
        if entity is None:
            return None
        try:
            value = float(entity["value"])
        except (TypeError, ValueError):
            return None
        return value if value == value else None

    def slot(self, name: str) -> Any:
        return self.slots.get(name)

    @property
    def has_words(self) -> bool:
        return bool(self.text) and has_meaning(self.text)


class MovieAction(Action, ABC):
    """A custom action that answers from the engine, times itself and never lets an error reach the user."""

    def __init__(self, service: MovieService | None = None) -> None:
        # The action server creates each action once at start-up; this is where the engine loads.
        self._service = service if service is not None else get_service()

    @property
    def service(self) -> MovieService | None:
        return self._service

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        started = time.perf_counter()
        turn = Turn.from_tracker(tracker)
        try:
            if self._service is None:
                dispatcher.utter_message(response="utter_engine_unavailable")
                return []
            if not turn.has_words and self.needs_words:
                dispatcher.utter_message(response="utter_empty_message" if not turn.text else "utter_no_words")
                return []
            return list(self.respond(dispatcher, turn, self._service) or [])
        except Exception:  # noqa: BLE001 - the user gets an apology, the log gets the details
            log.exception("Action %s failed for sender %s on %r", self.name(), turn.sender, turn.text[:200])
            dispatcher.utter_message(response="utter_internal_error")
            return []
        finally:
            log.info("%s for sender %s took %.1f ms", self.name(), turn.sender, (time.perf_counter() - started) * 1000)

    needs_words = True
    """Whether the action needs readable text; button-driven actions (choices, yes/no) do not."""

    @abstractmethod
    def name(self) -> Text:
        """Return the action's name as the domain lists it."""

    @abstractmethod
    def respond(self, dispatcher: CollectingDispatcher, turn: Turn, service: MovieService) -> Iterable[Dict[Text, Any]]:
        """Send the replies for ``turn`` and return the events (slot changes) to apply."""


# --------------------------------------------------------------------------- shared replies


def show_list(
    dispatcher: CollectingDispatcher,
    movie_list: MovieList,
    response: str,
    start: int = 0,
    exclude: Iterable[int] = (),
    seed_movie: Movie | None = None,
    **variables: Any,
) -> List[Dict[Text, Any]]:
    """Send one page of a list: a text message of "N. Title (Year) — reason" lines and a card payload.

    Returns the slot event that remembers the list for "more". Sends nothing and returns no
    event when the page is empty, so the caller can choose what to say instead.
    """
    cards = movie_list.page(start, exclude)
    if not cards:
        return []
    first_number = start + 1
    lines = "\n".join(_line(number, card) for number, card in enumerate(cards, first_number))
    dispatcher.utter_message(response=response, lines=lines, **variables)
    payload = {
        "type": "movie_cards",
        "kind": movie_list.kind,
        "source": movie_list.source,
        "seed": None if seed_movie is None else {
            "movie_id": seed_movie.movie_id, "title": seed_movie.title, "year": seed_movie.year,
        },
        "movies": [card.payload() for card in cards],
    }
    dispatcher.utter_message(json_message=payload)
    last_shown = movie_list.cards.index(cards[-1]) + 1
    return [SlotSet(SLOT_LAST_LIST, movie_list.to_state(shown=last_shown))]


def _line(number: int, card: MovieCard) -> str:
    return f"{number}. {card.display_title} — {card.reason}" if card.reason else f"{number}. {card.display_title}"


def movie_buttons(movies: Iterable[Movie], intent: str = "choose_movie", limit: int = 6) -> list[dict[str, str]]:
    """Return one button per movie, labelled "Title (Year)", whose payload carries the movie id."""
    return [
        {"title": movie.display_title, "payload": f"/{intent}{json.dumps({'movie_id': movie.movie_id})}"}
        for movie in list(movies)[:limit]
    ]


def ask_which_movie(
    dispatcher: CollectingDispatcher,
    response: str,
    query: str,
    movies: Iterable[Movie],
    pending_intent: str,
    pending_score: float | None = None,
) -> List[Dict[Text, Any]]:
    """Ask the user to pick one of several movies with buttons; nothing is stored until they answer."""
    movies = list(movies)
    dispatcher.utter_message(response=response, query=query, buttons=movie_buttons(movies))
    return [
        SlotSet(SLOT_AWAITING, "choice"),
        SlotSet(SLOT_PENDING_INTENT, pending_intent),
        SlotSet(SLOT_PENDING_SCORE, pending_score),
        SlotSet(SLOT_CANDIDATES, [movie.movie_id for movie in movies]),
    ]


def clear_pending() -> List[Dict[Text, Any]]:
    """Return the events that forget every pending question."""
    return [
        SlotSet(SLOT_AWAITING, None),
        SlotSet(SLOT_PENDING_MOVIE, None),
        SlotSet(SLOT_PENDING_INTENT, None),
        SlotSet(SLOT_PENDING_SCORE, None),
        SlotSet(SLOT_CANDIDATES, None),
    ]


def genres_and_years(turn: Turn) -> tuple[tuple[str, ...], int | None, int | None]:
    """Return the genres (from the text and the NLU's genre entities) and the year range of a message."""
    genres: list[str] = []
    for mention in find_genres(turn.text):
        genres.extend(mention.genres)
    for entity in turn.entities:
        if entity.get("entity") == "genre":
            genres.extend(normalise_genre(str(entity.get("value", ""))))
    years = parse_years(turn.text)
    return tuple(dict.fromkeys(genres)), (years.year_from if years else None), (years.year_to if years else None)
