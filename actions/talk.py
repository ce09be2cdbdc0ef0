"""Actions for greetings, movie facts and messages the NLU could not place."""

from __future__ import annotations

import re
from typing import Text

from actions.common import MovieAction
from actions.lists import note_picked_most_known, reply_if_rating, reply_person, reply_title_problem
from actions.ratings import reply_info
from recengine.parsing import has_meaning
from recengine.service import AMBIGUOUS, FOUND, TitleLookup

__all__ = ["ActionGreet", "ActionMovieInfo", "ActionFallback"]

_PEOPLE_CUE = re.compile(r"\b(?:films?|movies?|directed|director|starring|filmography)\b", re.IGNORECASE)


class ActionGreet(MovieAction):
    """Greet a newcomer with ways to start, or a returning user with their rating count."""

    def name(self) -> Text:
        return "action_greet"

    needs_words = False

    def respond(self, dispatcher, turn, service):
        count = service.rating_count(turn.sender)
        if count:
            dispatcher.utter_message(response="utter_greet_back", count=count)
        else:
            dispatcher.utter_message(response="utter_greet_newcomer")
        return []


class ActionMovieInfo(MovieAction):
    """Facts about one movie: year, director, cast, genres, average rating."""

    def name(self) -> Text:
        return "action_movie_info"

    def respond(self, dispatcher, turn, service):
        hint, span = turn.entity_text("movie_title")
        lookup = service.find_title(turn.text, hint, span)
        if lookup.status != FOUND:
            return reply_title_problem(dispatcher, lookup, "info")
        note_picked_most_known(dispatcher, lookup)
        return reply_info(dispatcher, service, lookup.movie)


class ActionFallback(MovieAction):
    """Say what was wrong with a message the NLU could not place, with examples of what works."""

    def name(self) -> Text:
        return "action_fallback"

    needs_words = False

    def respond(self, dispatcher, turn, service):
        if not turn.text:
            dispatcher.utter_message(response="utter_empty_message")
        elif not has_meaning(turn.text):
            dispatcher.utter_message(response="utter_no_words")
        elif not any("a" <= char.lower() <= "z" for char in turn.text):
            dispatcher.utter_message(response="utter_english_only")
        else:
            return self._best_effort(dispatcher, turn, service)
        return []

    @staticmethod
    def _best_effort(dispatcher, turn, service):
        """Answer what the message unmistakably asks although the NLU was unsure, else ask to rephrase."""
        # "Mary Poppins 4" names a movie and a score: a rating.
        rating = reply_if_rating(dispatcher, turn, service)
        if rating is not None:
            return rating
        # "list some M. Night Shyamalan films" names a director or actor in full next to "films".
        if _PEOPLE_CUE.search(turn.text):
            people = [mention for mention in service.people.find_mentions(turn.text) if " " in mention.text.strip()]
            if people:
                person = service.find_person(turn.text, people[0].text)
                if person is not None:
                    return reply_person(dispatcher, turn, service, person, None)
        # A message that is nothing but a title ("hamlet", "Inception") gets that movie's facts.
        lookup = _whole_message_title(turn.text, service)
        if lookup is not None and lookup.status == AMBIGUOUS:
            return reply_title_problem(dispatcher, lookup, "info")
        if lookup is not None:
            note_picked_most_known(dispatcher, lookup)
            return reply_info(dispatcher, service, lookup.movie)
        dispatcher.utter_message(response="utter_not_understood")
        return []


def _whole_message_title(text: str, service) -> TitleLookup | None:
    """Return the lookup of ``text`` when the whole message is a catalog title, typed exactly (case and articles aside)."""
    resolution = service.titles.resolve(text)
    if not resolution.found or resolution.matches[0].score < 100:
        return None
    lookup = service.find_title(text)
    return lookup if lookup.status in (FOUND, AMBIGUOUS) else None
