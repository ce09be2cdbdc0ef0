"""Actions that answer with a list of movies: similar, charts, people, personal, next-watch, more."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Text

from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    SLOT_LAST_LIST, MovieAction, Turn, ask_which_movie, clear_pending, genres_and_years, show_list,
)
from recengine.catalog import Movie
from recengine.service import AMBIGUOUS, FOUND, NO_TITLE, NOT_FOUND, MovieList, MovieService, TitleLookup

__all__ = [
    "ActionSimilar", "ActionChart", "ActionPerson", "ActionRecommend", "ActionNextWatch", "ActionMore",
    "reply_similar", "reply_chart", "reply_person", "reply_title_problem", "reply_if_rating", "note_picked_most_known", "note_fallback",
]

# Words that ask for movies like a named one, used to notice a similarity request that the NLU
# labelled as something else ("more like Signs please" read as "more").
_SIMILAR_CUE = re.compile(r"\b(?:like|similar|resembl\w*|lines of|vein (?:of|as)|same vibe|reminds?)\b", re.IGNORECASE)


def reply_if_rating(dispatcher: CollectingDispatcher, turn: Turn, service: MovieService,
                    allow_bare: bool = True) -> List[Dict[Text, Any]] | None:
    """Store a rating when the message names a catalog movie with a written score, whatever the NLU said.

    "★★★ for Grease" read as a recommendation request, or "Mary Poppins 4" read as a chart, are
    ratings: the title resolves and the score is written out. A bare number counts only with
    ``allow_bare``, since "top 5 comedies" also has one. Returns None when the message is not
    such a rating, so the caller answers as usual.
    """
    if not turn.has_words or not re.search(r"\d|star|[★⭐]", turn.text, re.IGNORECASE):
        return None
    request = service.read_rating(turn.text)
    score = request.score
    if request.lookup.status != FOUND or score is None or not score.explicit or (score.bare and not allow_bare):
        return None
    from actions.ratings import ActionRateMovie

    return list(ActionRateMovie(service).respond(dispatcher, turn, service))


def reply_title_problem(dispatcher: CollectingDispatcher, lookup: TitleLookup, pending_intent: str,
                        pending_score: float | None = None,
                        not_found_response: str = "utter_movie_not_found") -> List[Dict[Text, Any]]:
    """Answer a lookup that found no single movie: ask which one, offer close titles, or ask for a title."""
    if lookup.status == AMBIGUOUS:
        return ask_which_movie(dispatcher, "utter_ask_which_movie", lookup.query, lookup.candidates, pending_intent, pending_score)
    if lookup.status == NOT_FOUND and lookup.candidates:
        return ask_which_movie(dispatcher, "utter_movie_not_found_suggestions", lookup.query, lookup.candidates,
                               pending_intent, pending_score)
    if lookup.status == NOT_FOUND:
        dispatcher.utter_message(response=not_found_response, query=lookup.query)
        return []
    dispatcher.utter_message(response="utter_ask_title")
    return []


def note_picked_most_known(dispatcher: CollectingDispatcher, lookup: TitleLookup) -> None:
    """Tell the user which of several same-titled movies was taken, and how to pick another."""
    if lookup.picked_most_known and lookup.movie is not None and lookup.candidates:
        other = lookup.candidates[0]
        dispatcher.utter_message(response="utter_picked_most_known", movie=lookup.movie.display_title,
                                 count=len(lookup.candidates) + 1, example=other.display_title)


def note_fallback(dispatcher: CollectingDispatcher, movie_list: MovieList) -> None:
    """Say honestly when a fallback model produced the list because the requested one could not."""
    if movie_list.used_fallback and movie_list.fallback_reason and movie_list.kind != "popular":
        dispatcher.utter_message(response="utter_model_fallback_note", reason=movie_list.fallback_reason,
                                 source=movie_list.source)


def reply_similar(dispatcher: CollectingDispatcher, turn: Turn, service: MovieService, movie: Movie) -> List[Dict[Text, Any]]:
    """Send movies like ``movie``, personalised when the user has ratings."""
    movie_list = service.similar(movie.movie_id, user_key=turn.sender)
    if movie_list.source == "popularity":
        response = "utter_similar_none"
    elif movie_list.source == "hybrid" and movie_list.rating_count:
        response = "utter_similar_personal_list"
    else:
        response = "utter_similar_list"
    events = show_list(dispatcher, movie_list, response, seed_movie=movie, seed=movie.display_title)
    if not events:
        dispatcher.utter_message(response="utter_movie_not_found", query=movie.display_title)
        return clear_pending()
    if movie_list.source != "popularity":
        note_fallback(dispatcher, movie_list)
    return clear_pending() + events


def reply_if_similar_cue(dispatcher: CollectingDispatcher, turn: Turn, service: MovieService) -> List[Dict[Text, Any]] | None:
    """Send movies like the title in "... like <title>" when it resolves, or return None."""
    if not _SIMILAR_CUE.search(turn.text):
        return None
    hint, span = turn.entity_text("movie_title")
    lookup = service.find_title(turn.text, hint, span)
    if lookup.status != FOUND:
        return None
    note_picked_most_known(dispatcher, lookup)
    return reply_similar(dispatcher, turn, service, lookup.movie)


def reply_chart(dispatcher: CollectingDispatcher, turn: Turn, service: MovieService, genres: tuple[str, ...],
                year_from: int | None, year_to: int | None) -> List[Dict[Text, Any]]:
    """Send a chart page for the genres and years, topped up and labelled when few movies qualify."""
    # NOTE: a length asked for ("top 5") is not honoured; every chart page has chart_page_size movies.
    exclude = service.store.marked(turn.sender)
    chart = service.chart(genres, year_from, year_to, exclude=exclude)
    if chart.qualified is not None and chart.qualified < len(chart.page()):
        events = show_list(dispatcher, chart, "utter_chart_relaxed", label=chart.label, count=chart.qualified)
    else:
        events = show_list(dispatcher, chart, "utter_chart_list", label=chart.label)
    if not events:
        dispatcher.utter_message(response="utter_chart_empty", label=chart.label)
    return events


def reply_person(dispatcher: CollectingDispatcher, turn: Turn, service: MovieService, person, role: str | None) -> List[Dict[Text, Any]]:
    movie_list = service.person_movies(person, role, user_key=turn.sender)
    role_phrase = "Movies directed by" if movie_list.label.startswith("movies directed") else "Movies with"
    events = show_list(dispatcher, movie_list, "utter_person_list", role_phrase=role_phrase, person=person.name)
    if not events:
        dispatcher.utter_message(response="utter_person_not_found", query=person.name)
    return events


def _role_asked(text: str) -> str | None:
    lowered = text.lower()
    if re.search(r"\b(?:direct\w*|by|made|filmmaker|helmed)\b", lowered):
        return "director"
    if re.search(r"\b(?:with|starring|stars?|actor|actress|acted|act|in it|featuring|played|plays)\b", lowered):
        return "actor"
    return None


class ActionSimilar(MovieAction):
    """Movies like the one the user names."""

    def name(self) -> Text:
        return "action_similar"

    def respond(self, dispatcher, turn, service):
        hint, span = turn.entity_text("movie_title")
        lookup = service.find_title(turn.text, hint, span)
        if lookup.status == FOUND:
            note_picked_most_known(dispatcher, lookup)
            return reply_similar(dispatcher, turn, service, lookup.movie)
        # "movies like scary ones" names no movie but a genre: a chart answers it.
        genres, year_from, year_to = genres_and_years(turn)
        if lookup.status in (NO_TITLE, NOT_FOUND) and not lookup.candidates and (genres or year_from or year_to):
            return reply_chart(dispatcher, turn, service, genres, year_from, year_to)
        return reply_title_problem(dispatcher, lookup, "similar")


class ActionChart(MovieAction):
    """Top-rated movies, optionally of some genres and years."""

    def name(self) -> Text:
        return "action_chart"

    needs_words = False

    def respond(self, dispatcher, turn, service):
        genres, year_from, year_to = genres_and_years(turn)
        if not genres and year_from is None and year_to is None:
            rating = reply_if_rating(dispatcher, turn, service)
            if rating is not None:
                return rating
        if not genres and year_from is None and year_to is None and turn.has_words:
            # "Jennifer Lawrence films worth seeing" reads like a chart but names a person.
            person = service.find_person(turn.text) if service.people.find_mentions(turn.text) else None
            if person is not None:
                return reply_person(dispatcher, turn, service, person, _role_asked(turn.text))
        return reply_chart(dispatcher, turn, service, genres, year_from, year_to)


class ActionPerson(MovieAction):
    """Movies by a director or with an actor."""

    def name(self) -> Text:
        return "action_person"

    def respond(self, dispatcher, turn, service):
        hint, _ = turn.entity_text("person")
        person = service.find_person(turn.text, hint)
        if person is None:
            if hint:
                dispatcher.utter_message(response="utter_person_not_found", query=_quote_hint(hint))
            else:
                dispatcher.utter_message(response="utter_ask_person")
            return []
        return reply_person(dispatcher, turn, service, person, _role_asked(turn.text))


def _quote_hint(text: str) -> str:
    return re.sub(r"[{}<>\[\]\\`]", " ", text)[:60].strip()


class _PersonalAction(MovieAction):
    kind = "personal"

    def respond(self, dispatcher, turn, service):
        rating = reply_if_rating(dispatcher, turn, service, allow_bare=False)
        if rating is not None:
            return rating
        # "recommend something like Heat" is a similarity request whatever the NLU said.
        similar = reply_if_similar_cue(dispatcher, turn, service)
        if similar is not None:
            return similar
        movie_list = self.make_list(turn, service)
        if movie_list.kind == "popular":
            events = show_list(dispatcher, movie_list, "utter_popular_for_newcomer")
            dispatcher.utter_message(response="utter_offer_onboarding")
            return events
        response = "utter_nextwatch_list" if movie_list.kind == "nextwatch" else "utter_personal_list"
        events = show_list(dispatcher, movie_list, response, count=movie_list.rating_count)
        if not events:
            dispatcher.utter_message(response="utter_no_more")
            return []
        if movie_list.rating_count < service.config.few_ratings:
            dispatcher.utter_message(response="utter_few_ratings_note", count=movie_list.rating_count)
        note_fallback(dispatcher, movie_list)
        return events

    def make_list(self, turn: Turn, service: MovieService) -> MovieList:
        raise NotImplementedError


class ActionRecommend(_PersonalAction):
    """Personal picks from the user's ratings (popular picks for a newcomer, honestly labelled)."""

    def name(self) -> Text:
        return "action_recommend"

    needs_words = False

    def make_list(self, turn, service):
        genres, year_from, year_to = genres_and_years(turn)
        return service.recommend(turn.sender, genres, year_from, year_to)


class ActionNextWatch(_PersonalAction):
    """What to watch next, following the order of the user's ratings."""

    def name(self) -> Text:
        return "action_next_watch"

    needs_words = False

    def make_list(self, turn, service):
        return service.next_watch(turn.sender)


class ActionMore(MovieAction):
    """The next page of the last list."""

    def name(self) -> Text:
        return "action_more"

    needs_words = False

    def respond(self, dispatcher, turn, service):
        similar = reply_if_similar_cue(dispatcher, turn, service)
        if similar is not None:
            return similar
        state = turn.slot(SLOT_LAST_LIST)
        if not isinstance(state, dict):
            dispatcher.utter_message(response="utter_no_list_yet")
            return []
        try:
            movie_list = MovieList.from_state(state)
        except ValueError:
            dispatcher.utter_message(response="utter_no_list_yet")
            return [SlotSet(SLOT_LAST_LIST, None)]
        shown = int(state.get("shown") or 0)
        exclude = service.blocked(turn.sender) if movie_list.kind != "chart" else service.store.marked(turn.sender)
        events = show_list(dispatcher, movie_list, "utter_more_list", start=shown, exclude=exclude, label=movie_list.label)
        if not events:
            dispatcher.utter_message(response="utter_no_more")
        return events

