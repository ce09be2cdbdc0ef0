"""Actions that store or manage ratings: rate, answer a score question, list, forget, onboarding, choices."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Text

from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    SLOT_AWAITING, SLOT_CANDIDATES, SLOT_LAST_RATED, SLOT_ONBOARDING, SLOT_PENDING_INTENT, SLOT_PENDING_MOVIE,
    SLOT_PENDING_SCORE, MovieAction, Turn, ask_which_movie, clear_pending,
)
from actions.lists import note_picked_most_known, reply_similar, reply_title_problem
from recengine.catalog import Movie
from recengine.errors import InvalidRatingError
from recengine.parsing import MAX_SCORE, MIN_SCORE, Score, format_stars, round_to_half
from recengine.service import FOUND, NO_TITLE, MovieService

__all__ = [
    "ActionRateMovie", "ActionListRatings", "ActionAskForgetRatings", "ActionAnswerYes", "ActionAnswerNo",
    "ActionChooseMovie", "ActionStartOnboarding", "ActionMarkSeen", "ActionMarkNotInterested",
    "store_rating", "reply_info",
]

ONBOARDING_QUESTIONS = 8
"""How many well-known movies onboarding offers before it stops asking."""
ONBOARDING_ENOUGH = 5
"""Onboarding stops early once the user has this many ratings."""
ONBOARDING = "onboarding"
"""Value of the pending-intent slot while onboarding questions are asked."""


def _example(movie: Movie, value: float = 4.0) -> str:
    return f"{movie.title} {value:g}"


def store_rating(dispatcher: CollectingDispatcher, turn: Turn, service: MovieService, movie: Movie,
                 score: Score) -> List[Dict[Text, Any]]:
    """Store a valid score for the movie and say what was stored; reject an out-of-range one."""
    if score.out_of_range or score.value is None:
        dispatcher.utter_message(response="utter_score_out_of_range", given=_quote_score(score.given),
                                 example=_example(movie))
        return [SlotSet(SLOT_AWAITING, "score"), SlotSet(SLOT_PENDING_MOVIE, float(movie.movie_id))]
    try:
        outcome = service.rate(turn.sender, movie.movie_id, score.value)
    except InvalidRatingError:
        dispatcher.utter_message(response="utter_score_out_of_range", given=_quote_score(score.given),
                                 example=_example(movie))
        return []
    stars = format_stars(outcome.rating)
    if outcome.previous is not None and outcome.previous != outcome.rating:
        dispatcher.utter_message(response="utter_rating_updated", movie=movie.display_title, stars=stars,
                                 previous=format_stars(outcome.previous))
    elif score.kind == "sentiment":
        dispatcher.utter_message(response="utter_rating_saved_sentiment", movie=movie.display_title, stars=stars,
                                 phrase=_quote_score(score.given), example=_example(movie, 3.5 if outcome.rating > 3.5 else 4.0))
    elif score.kind == "fraction" or not score.exact:
        dispatcher.utter_message(response="utter_rating_saved_converted", movie=movie.display_title, stars=stars,
                                 given=_quote_score(score.given))
    else:
        dispatcher.utter_message(response="utter_rating_saved", movie=movie.display_title, stars=stars)
    return [SlotSet(SLOT_LAST_RATED, float(movie.movie_id))]


def _quote_score(text: str) -> str:
    return re.sub(r"[{}<>\[\]\\`]", " ", text)[:40].strip()


def _button_score(turn: Turn) -> Score | None:
    value = turn.entity_number("score")
    if value is None:
        return None
    if MIN_SCORE <= value <= MAX_SCORE:
        return Score(round_to_half(value), f"{value:g}", "stars", 0, 0)
    return Score(None, f"{value:g}", "stars", 0, 0, out_of_range=True)


def _pending_movie(turn: Turn, service: MovieService) -> Movie | None:
    value = turn.slot(SLOT_PENDING_MOVIE)
    if turn.slot(SLOT_AWAITING) not in ("score", "seen") or value is None:
        return None
    try:
        return service.movie(int(value))
    except (KeyError, TypeError, ValueError):
        return None


def continue_onboarding(dispatcher: CollectingDispatcher, turn: Turn, service: MovieService) -> List[Dict[Text, Any]]:
    """Ask about the next movie in the onboarding queue, or finish when it is empty or enough is known."""
    queue = [int(movie_id) for movie_id in (turn.slot(SLOT_ONBOARDING) or [])]
    if not queue:
        return []
    rated = {movie.movie_id for movie, _ in service.ratings(turn.sender)}
    queue = [movie_id for movie_id in queue if movie_id not in rated]
    if not queue or len(rated) >= ONBOARDING_ENOUGH:
        dispatcher.utter_message(response="utter_onboarding_done")
        return clear_pending() + [SlotSet(SLOT_ONBOARDING, None)]
    movie = service.movie(queue[0])
    dispatcher.utter_message(response="utter_ask_seen", movie=movie.display_title)
    return [SlotSet(SLOT_AWAITING, "seen"), SlotSet(SLOT_PENDING_MOVIE, float(movie.movie_id)),
            SlotSet(SLOT_PENDING_INTENT, ONBOARDING), SlotSet(SLOT_ONBOARDING, queue[1:] or None)]


def _in_onboarding(turn: Turn) -> bool:
    """Return True when the user is answering an onboarding question."""
    return turn.slot(SLOT_PENDING_INTENT) == ONBOARDING and turn.slot(SLOT_AWAITING) in ("seen", "score")


def _onboarding_next(dispatcher, turn, service) -> List[Dict[Text, Any]]:
    """Ask the next onboarding question after an answer to one; nothing outside onboarding."""
    if not _in_onboarding(turn):
        return []
    events = continue_onboarding(dispatcher, turn, service)
    if not events:
        dispatcher.utter_message(response="utter_onboarding_done")
        return [SlotSet(SLOT_ONBOARDING, None)]
    return events


class ActionRateMovie(MovieAction):
    """Store a rating from "Heat 4 stars", "I loved Up", a bare score after a question, or a star button."""

    def name(self) -> Text:
        return "action_rate_movie"

    needs_words = False

    def respond(self, dispatcher, turn, service):
        button = _button_score(turn)
        if not turn.has_words and button is None:
            dispatcher.utter_message(response="utter_empty_message" if not turn.text else "utter_no_words")
            return []
        hint, span = turn.entity_text("movie_title")
        request = service.read_rating(turn.text, hint, span) if turn.has_words else None
        score = button or (request.score if request else None)
        lookup = request.lookup if request else None
        # A card's star button sends '/give_score{"score": 4, "movie_id": 6}': the id names the movie.
        picked = turn.entity_number("movie_id")

        if picked is not None and service.has_movie(int(picked)):
            movie = service.movie(int(picked))
        elif lookup is not None and lookup.status == FOUND:
            movie = lookup.movie
            note_picked_most_known(dispatcher, lookup)
        elif lookup is not None and lookup.status != NO_TITLE:
            pending = score.value if score is not None and not score.out_of_range else None
            return reply_title_problem(dispatcher, lookup, "rate", pending, "utter_rating_unknown_movie")
        else:
            movie = _pending_movie(turn, service)
            if movie is None and score is not None and turn.slot(SLOT_LAST_RATED) is not None:
                # "make it 3.5": a bare score right after a rating changes that rating.
                movie = service.movie(int(turn.slot(SLOT_LAST_RATED)))
            if movie is None:
                if score is not None and score.value is not None:
                    dispatcher.utter_message(response="utter_ask_movie_for_score", stars=format_stars(score.value),
                                             score=f"{score.value:g}")
                elif score is not None:
                    dispatcher.utter_message(response="utter_score_out_of_range", given=_quote_score(score.given),
                                             example="Heat 4.5")
                else:
                    dispatcher.utter_message(response="utter_ask_rating_details")
                return []

        if score is None:
            dispatcher.utter_message(response="utter_ask_score", movie=movie.display_title)
            return [SlotSet(SLOT_AWAITING, "score"), SlotSet(SLOT_PENDING_MOVIE, float(movie.movie_id))]
        events = store_rating(dispatcher, turn, service, movie, score)
        if score.out_of_range:
            return events
        return clear_pending() + events + _onboarding_next(dispatcher, turn, service)


class ActionListRatings(MovieAction):
    """List the user's stored ratings."""

    def name(self) -> Text:
        return "action_list_ratings"

    needs_words = False

    def respond(self, dispatcher, turn, service):
        ratings = service.ratings(turn.sender)
        if not ratings:
            dispatcher.utter_message(response="utter_no_ratings_yet")
            return []
        lines = "\n".join(f"- {movie.display_title}: {format_stars(value)}" for movie, value in ratings)
        dispatcher.utter_message(response="utter_list_ratings", count=len(ratings), lines=lines)
        return []


class ActionAskForgetRatings(MovieAction):
    """Ask for confirmation before deleting every rating of the user."""

    def name(self) -> Text:
        return "action_ask_forget_ratings"

    needs_words = False

    def respond(self, dispatcher, turn, service):
        count = service.rating_count(turn.sender)
        if count == 0 and not service.store.marked(turn.sender):
            dispatcher.utter_message(response="utter_no_ratings_yet")
            return []
        dispatcher.utter_message(response="utter_confirm_forget", count=count)
        return [SlotSet(SLOT_AWAITING, "forget")]


class ActionAnswerYes(MovieAction):
    """A "yes" to whatever the bot asked last."""

    def name(self) -> Text:
        return "action_answer_yes"

    needs_words = False

    def respond(self, dispatcher, turn, service):
        awaiting = turn.slot(SLOT_AWAITING)
        if awaiting == "forget":
            count = service.forget(turn.sender)
            dispatcher.utter_message(response="utter_ratings_forgotten", count=count)
            return clear_pending() + [SlotSet(SLOT_LAST_RATED, None), SlotSet(SLOT_ONBOARDING, None)]
        movie = _pending_movie(turn, service)
        if awaiting in ("seen", "score") and movie is not None:
            # Having seen a movie is not a rating: ask how much they liked it.
            dispatcher.utter_message(response="utter_ask_liked", movie=movie.display_title)
            return [SlotSet(SLOT_AWAITING, "score")]
        if awaiting == "choice":
            candidates = turn.slot(SLOT_CANDIDATES) or []
            if len(candidates) == 1:
                return ActionChooseMovie(service).act_on(dispatcher, turn, service, service.movie(int(candidates[0])))
        dispatcher.utter_message(response="utter_how_can_i_help")
        return []


class ActionAnswerNo(MovieAction):
    """A "no" to whatever the bot asked last."""

    def name(self) -> Text:
        return "action_answer_no"

    needs_words = False

    def respond(self, dispatcher, turn, service):
        awaiting = turn.slot(SLOT_AWAITING)
        if awaiting == "forget":
            dispatcher.utter_message(response="utter_forget_cancelled")
            return clear_pending()
        if awaiting in ("seen", "score"):
            events = clear_pending()
            next_events = _onboarding_next(dispatcher, turn, service)
            if not next_events:
                dispatcher.utter_message(response="utter_how_can_i_help")
            return events + next_events
        dispatcher.utter_message(response="utter_how_can_i_help")
        return clear_pending()


class ActionStartOnboarding(MovieAction):
    """Offer well-known movies one at a time: "have you seen it?", then "how many stars?"."""

    def name(self) -> Text:
        return "action_start_onboarding"

    needs_words = False

    def respond(self, dispatcher, turn, service):
        movies = service.onboarding_movies(turn.sender, ONBOARDING_QUESTIONS)
        if not movies:
            dispatcher.utter_message(response="utter_onboarding_done")
            return []
        dispatcher.utter_message(response="utter_onboarding_intro")
        dispatcher.utter_message(response="utter_ask_seen", movie=movies[0].display_title)
        return [
            SlotSet(SLOT_AWAITING, "seen"),
            SlotSet(SLOT_PENDING_MOVIE, float(movies[0].movie_id)),
            SlotSet(SLOT_PENDING_INTENT, ONBOARDING),
            SlotSet(SLOT_ONBOARDING, [movie.movie_id for movie in movies[1:]]),
        ]


class ActionChooseMovie(MovieAction):
    """Continue a pending request with the movie the user picked from buttons or by year."""

    def name(self) -> Text:
        return "action_choose_movie"

    needs_words = False

    def respond(self, dispatcher, turn, service):
        movie = self._chosen(turn, service)
        if movie is None:
            dispatcher.utter_message(response="utter_choice_expired")
            return clear_pending()
        return self.act_on(dispatcher, turn, service, movie)

    @staticmethod
    def _chosen(turn: Turn, service: MovieService) -> Movie | None:
        candidates = [int(movie_id) for movie_id in (turn.slot(SLOT_CANDIDATES) or [])]
        picked = turn.entity_number("movie_id")
        if picked is not None and service.has_movie(int(picked)):
            return service.movie(int(picked))
        if not candidates:
            return None
        movies = [service.movie(movie_id) for movie_id in candidates if service.has_movie(movie_id)]
        year = re.search(r"\b(18|19|20)\d\d\b", turn.text)
        if year:
            matching = [movie for movie in movies if movie.year == int(year.group())]
            if matching:
                return matching[0]
        decade = re.search(r"\b(\d)0'?s\b", turn.text)
        if decade:
            matching = [movie for movie in movies if movie.year and (movie.year // 10) % 10 == int(decade.group(1))]
            if len(matching) == 1:
                return matching[0]
        text = turn.text.lower()
        ordinals = {"first": 0, "second": 1, "third": 2, "fourth": 3, "1st": 0, "2nd": 1, "3rd": 2}
        for word, index in ordinals.items():
            if re.search(rf"\b{word}\b", text) and index < len(movies):
                return movies[index]
        dated = [movie for movie in movies if movie.year]
        if dated and re.search(r"\b(?:original|older|oldest|old one|classic|first one)\b", text):
            return min(dated, key=lambda movie: movie.year)
        if dated and re.search(r"\b(?:remake|newer|newest|latest|recent|new one)\b", text):
            return max(dated, key=lambda movie: movie.year)
        return None

    def act_on(self, dispatcher, turn, service, movie: Movie) -> List[Dict[Text, Any]]:
        intent = turn.slot(SLOT_PENDING_INTENT) or "info"
        pending_score = turn.slot(SLOT_PENDING_SCORE)
        events = clear_pending()
        if intent == "similar":
            return events + reply_similar(dispatcher, turn, service, movie)
        if intent == "rate":
            if pending_score is None:
                dispatcher.utter_message(response="utter_ask_score", movie=movie.display_title)
                return events + [SlotSet(SLOT_AWAITING, "score"), SlotSet(SLOT_PENDING_MOVIE, float(movie.movie_id))]
            score = Score(float(pending_score), f"{float(pending_score):g}", "stars", 0, 0)
            return events + store_rating(dispatcher, turn, service, movie, score)
        if intent in ("seen", "not_interested"):
            return events + mark_movies(dispatcher, turn, service, [movie.movie_id], intent)
        return events + reply_info(dispatcher, service, movie)


def reply_info(dispatcher: CollectingDispatcher, service: MovieService, movie: Movie) -> List[Dict[Text, Any]]:
    """Send the facts about one movie: year, director, leading cast, genres and its average rating."""
    cast = f", starring {_join(movie.cast)}" if movie.cast else ""
    genres = ", ".join(movie.genres) if movie.genres else "not listed"
    if movie.rating_count and movie.rating_mean is not None:
        rating = f"It averages {movie.rating_mean:.1f} stars from {movie.rating_count} ratings."
    else:
        rating = "Nobody has rated it here yet."
    if movie.director:
        dispatcher.utter_message(response="utter_movie_info", movie=movie.display_title, director=movie.director,
                                 cast=cast, genres=genres, rating=rating)
    else:
        dispatcher.utter_message(response="utter_movie_info_no_director", movie=movie.display_title,
                                 year=movie.year or "an unknown year", cast=cast, genres=genres, rating=rating)
    return []


def _join(names) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def mark_movies(dispatcher: CollectingDispatcher, turn: Turn, service: MovieService, movie_ids, kind: str) -> List[Dict[Text, Any]]:
    marked = service.mark(turn.sender, movie_ids, kind)
    if not marked:
        dispatcher.utter_message(response="utter_ask_which_to_mark")
        return []
    names = _join([movie.display_title for movie in marked])
    response = "utter_marked_seen" if kind == "seen" else "utter_marked_not_interested"
    dispatcher.utter_message(response=response, movies=names)
    return []


class _MarkAction(MovieAction):
    kind = "seen"

    needs_words = False

    def respond(self, dispatcher, turn, service):
        picked = turn.entity_number("movie_id")
        if picked is not None and service.has_movie(int(picked)):
            return mark_movies(dispatcher, turn, service, [int(picked)], self.kind)
        hint, span = turn.entity_text("movie_title")
        if self.kind == "seen" and turn.slot(SLOT_AWAITING) == "seen" and not hint:
            # "I've seen it" answers the onboarding question "have you seen X?".
            return ActionAnswerYes(service).respond(dispatcher, turn, service)
        if turn.has_words:
            lookup = service.find_title(turn.text, hint, span)
            if lookup.status == FOUND:
                return mark_movies(dispatcher, turn, service, [lookup.movie.movie_id], self.kind)
            if lookup.status != NO_TITLE and hint:
                return reply_title_problem(dispatcher, lookup, self.kind)
        shown = self._last_page(turn)
        if len(shown) == 1 or (shown and re.search(r"\b(?:all|those|these|them|both)\b", turn.text.lower())):
            return mark_movies(dispatcher, turn, service, shown, self.kind)
        if shown:
            movies = [service.movie(movie_id) for movie_id in shown if service.has_movie(movie_id)]
            return ask_which_movie(dispatcher, "utter_ask_which_to_mark", "", movies, self.kind)
        dispatcher.utter_message(response="utter_ask_which_to_mark")
        return []

    @staticmethod
    def _last_page(turn: Turn) -> list[int]:
        state = turn.slot("last_list")
        if not isinstance(state, dict):
            return []
        cards = state.get("cards") or []
        shown = int(state.get("shown") or 0)
        size = int(state.get("page_size") or 5)
        page = cards[max(0, shown - size):shown]
        return [int(card["movie_id"]) for card in page if isinstance(card, dict) and "movie_id" in card]


class ActionMarkSeen(_MarkAction):
    """Remember that the user has seen a movie, so it is not suggested again."""

    kind = "seen"

    def name(self) -> Text:
        return "action_mark_seen"


class ActionMarkNotInterested(_MarkAction):
    """Remember that the user does not want a movie suggested again."""

    kind = "not_interested"

    def name(self) -> Text:
        return "action_mark_not_interested"
