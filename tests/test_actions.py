"""Each custom action run with rasa_sdk's CollectingDispatcher and Tracker against the real catalog.

The engine is a MovieService on ml-latest-small with a temporary SQLite ratings store and no
trained models, so list answers come from the popularity fallback; the tests check the
response chosen, its variables, the slot events and what the store holds afterwards.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.lists import ActionChart, ActionMore, ActionNextWatch, ActionPerson, ActionRecommend, ActionSimilar
from actions.ratings import (
    ActionAnswerNo, ActionAnswerYes, ActionAskForgetRatings, ActionChooseMovie, ActionListRatings, ActionMarkSeen,
    ActionRateMovie, ActionStartOnboarding,
)
from actions.talk import ActionFallback, ActionGreet, ActionMovieInfo
from recengine.service import MovieService
from recengine.store import RatingsStore


@pytest.fixture(scope="module")
def service(movielens_small, tmp_path_factory):
    store = RatingsStore(f"sqlite:///{tmp_path_factory.mktemp('actions') / 'ratings.db'}")
    built = MovieService(movielens_small.catalog, store)
    yield built
    built.close()


@pytest.fixture
def sender() -> str:
    return f"test-{uuid.uuid4().hex}"


def tracker_for(sender: str, text: str, intent: str, entities: list[dict[str, Any]] | None = None,
                slots: dict[str, Any] | None = None) -> Tracker:
    message = {"text": text, "intent": {"name": intent, "confidence": 0.99}, "entities": entities or []}
    return Tracker(sender, slots or {}, message, [], False, None, {}, "action_listen")


def title_entity(text: str, title: str, name: str = "movie_title") -> dict[str, Any]:
    start = text.index(title)
    return {"entity": name, "value": title, "start": start, "end": start + len(title)}


def run(action, sender, text, intent, entities=None, slots=None):
    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, tracker_for(sender, text, intent, entities, slots), {})
    return dispatcher.messages, events


def responses(messages) -> list[str]:
    return [message.get("response") for message in messages if message.get("response")]


def slots_from(events) -> dict[str, Any]:
    return {event["name"]: event["value"] for event in events if event.get("event") == "slot"}


def stored(service, sender) -> dict[int, float]:
    return {movie.movie_id: value for movie, value in service.ratings(sender)}


# --------------------------------------------------------------------------- ratings


def test_rate_sentiment_says_what_was_stored(service, sender):
    text = "Titanic was awful"
    messages, events = run(ActionRateMovie(service), sender, text, "rate_movie", [title_entity(text, "Titanic")])
    assert responses(messages) == ["utter_picked_most_known", "utter_rating_saved_sentiment"]
    saved = messages[1]
    assert saved["movie"] == "Titanic (1997)"
    assert saved["stars"] == "1 star"
    assert saved["phrase"] == "awful"
    assert stored(service, sender) == {1721: 1.0}
    assert slots_from(events)["last_rated_movie_id"] == 1721.0


def test_rate_fraction_is_halved(service, sender):
    text = "7/10 for District 9"
    messages, _ = run(ActionRateMovie(service), sender, text, "rate_movie", [title_entity(text, "District 9")])
    assert responses(messages) == ["utter_rating_saved_converted"]
    assert messages[0]["stars"] == "3.5 stars"
    assert messages[0]["given"] == "7/10"
    assert stored(service, sender) == {70286: 3.5}


def test_rate_again_reports_update(service, sender):
    run(ActionRateMovie(service), sender, "Heat 4 stars", "rate_movie")
    messages, _ = run(ActionRateMovie(service), sender, "Heat 2 stars", "rate_movie")
    assert responses(messages) == ["utter_rating_updated"]
    assert messages[0]["previous"] == "4 stars"
    assert stored(service, sender) == {6: 2.0}


def test_rate_ambiguous_asks_and_stores_nothing(service, sender):
    text = "rate The Karate Kid 4 stars"
    messages, events = run(ActionRateMovie(service), sender, text, "rate_movie",
                           [title_entity(text, "The Karate Kid")])
    assert responses(messages) == ["utter_ask_which_movie"]
    payloads = [button["payload"] for button in messages[0]["buttons"]]
    assert payloads == ['/choose_movie{"movie_id": 2420}', '/choose_movie{"movie_id": 79224}']
    slots = slots_from(events)
    assert slots["awaiting"] == "choice"
    assert slots["pending_intent"] == "rate"
    assert slots["pending_score"] == 4.0
    assert stored(service, sender) == {}

    messages, _ = run(ActionChooseMovie(service), sender, '/choose_movie{"movie_id": 79224}', "choose_movie",
                      [{"entity": "movie_id", "value": 79224}], slots)
    assert responses(messages) == ["utter_rating_saved"]
    assert messages[0]["movie"] == "The Karate Kid (2010)"
    assert stored(service, sender) == {79224: 4.0}


def test_choose_by_typed_year(service, sender):
    slots = {"awaiting": "choice", "pending_intent": "info", "candidate_ids": [2420, 79224]}
    messages, _ = run(ActionChooseMovie(service), sender, "the 2010 one", "choose_movie", slots=slots)
    # IMDB-5000 has no row for the remake, so the reply says it lacks the director.
    assert responses(messages) == ["utter_movie_info_no_director"]
    assert messages[0]["movie"] == "The Karate Kid (2010)"


def test_choose_without_pending_question(service, sender):
    messages, _ = run(ActionChooseMovie(service), sender, "the first one", "choose_movie")
    assert responses(messages) == ["utter_choice_expired"]


def test_mention_without_score_asks_then_stores(service, sender):
    text = "I watched Up"
    messages, events = run(ActionRateMovie(service), sender, text, "rate_movie", [title_entity(text, "Up")])
    assert responses(messages) == ["utter_ask_score"]
    assert messages[0]["movie"] == "Up (2009)"
    slots = slots_from(events)
    assert slots == {"awaiting": "score", "pending_movie_id": 68954.0}
    assert stored(service, sender) == {}

    messages, _ = run(ActionRateMovie(service), sender, '/give_score{"score": 4}', "give_score",
                      [{"entity": "score", "value": 4}], slots)
    assert responses(messages) == ["utter_rating_saved"]
    assert stored(service, sender) == {68954: 4.0}


def test_card_button_names_movie_and_score(service, sender):
    payload = '/give_score{"score": 4.5, "movie_id": 6}'
    messages, _ = run(ActionRateMovie(service), sender, payload, "give_score",
                      [{"entity": "score", "value": 4.5}, {"entity": "movie_id", "value": 6}],
                      {"last_rated_movie_id": 1214.0})
    assert responses(messages) == ["utter_rating_saved"]
    assert messages[0]["movie"] == "Heat (1995)"
    assert stored(service, sender) == {6: 4.5}


def test_out_of_range_refused(service, sender):
    for text in ("Top Gun gets 0 stars", "rate Stargate 12/10", "rate Dogma infinity stars"):
        messages, _ = run(ActionRateMovie(service), sender, text, "rate_movie")
        assert responses(messages) == ["utter_score_out_of_range"], text
    assert stored(service, sender) == {}


def test_bare_score_without_movie(service, sender):
    messages, _ = run(ActionRateMovie(service), sender, "4.5", "give_score")
    assert responses(messages) == ["utter_ask_movie_for_score"]
    assert messages[0]["stars"] == "4.5 stars"
    assert stored(service, sender) == {}


def test_bare_score_changes_last_rating(service, sender):
    run(ActionRateMovie(service), sender, "I loved Heat", "rate_movie")
    messages, _ = run(ActionRateMovie(service), sender, "make it 3.5", "give_score", slots={"last_rated_movie_id": 6.0})
    assert responses(messages) == ["utter_rating_updated"]
    assert stored(service, sender) == {6: 3.5}


def test_unknown_movie_stores_nothing(service, sender):
    text = "rate Everything Everywhere All at Once 5 stars"
    messages, _ = run(ActionRateMovie(service), sender, text, "rate_movie",
                      [title_entity(text, "Everything Everywhere All at Once")])
    assert responses(messages)[0] in ("utter_rating_unknown_movie", "utter_movie_not_found_suggestions")
    assert messages[0]["query"] == "Everything Everywhere All at Once"
    assert stored(service, sender) == {}


def test_list_and_forget_ratings(service, sender):
    run(ActionRateMovie(service), sender, "Heat 4 stars", "rate_movie")
    run(ActionRateMovie(service), sender, "Alien 5", "rate_movie")
    messages, _ = run(ActionListRatings(service), sender, "what have I rated?", "list_ratings")
    assert responses(messages) == ["utter_list_ratings"]
    assert messages[0]["lines"] == "- Heat (1995): 4 stars\n- Alien (1979): 5 stars"

    messages, events = run(ActionAskForgetRatings(service), sender, "forget my ratings", "forget_ratings")
    assert responses(messages) == ["utter_confirm_forget"]
    assert messages[0]["count"] == 2
    assert stored(service, sender) == {6: 4.0, 1214: 5.0}

    messages, _ = run(ActionAnswerNo(service), sender, "no", "deny", slots=slots_from(events))
    assert responses(messages) == ["utter_forget_cancelled"]
    assert len(stored(service, sender)) == 2

    messages, _ = run(ActionAnswerYes(service), sender, "yes", "affirm", slots=slots_from(events))
    assert responses(messages) == ["utter_ratings_forgotten"]
    assert stored(service, sender) == {}


def test_forget_with_nothing_stored(service, sender):
    messages, events = run(ActionAskForgetRatings(service), sender, "forget my ratings", "forget_ratings")
    assert responses(messages) == ["utter_no_ratings_yet"]
    assert events == []


# --------------------------------------------------------------------------- onboarding


def test_onboarding_seen_is_not_a_rating(service, sender):
    messages, events = run(ActionStartOnboarding(service), sender, "I'm new here", "start_onboarding")
    assert responses(messages) == ["utter_onboarding_intro", "utter_ask_seen"]
    assert messages[1]["movie"] == "Forrest Gump (1994)"
    slots = slots_from(events)

    messages, events = run(ActionAnswerYes(service), sender, "yes", "affirm", slots=slots)
    assert responses(messages) == ["utter_ask_liked"]
    assert stored(service, sender) == {}
    slots.update(slots_from(events))
    assert slots["awaiting"] == "score"

    messages, events = run(ActionRateMovie(service), sender, "I loved it", "give_score", slots=slots)
    assert responses(messages) == ["utter_rating_saved_sentiment", "utter_ask_seen"]
    assert stored(service, sender) == {356: 5.0}
    slots.update(slots_from(events))

    messages, events = run(ActionAnswerNo(service), sender, "no", "deny", slots=slots)
    assert responses(messages) == ["utter_ask_seen"]
    assert stored(service, sender) == {356: 5.0}
    slots.update(slots_from(events))

    messages, _ = run(ActionMarkSeen(service), sender, "I've seen it", "seen_it", slots=slots)
    assert responses(messages) == ["utter_ask_liked"]
    assert stored(service, sender) == {356: 5.0}
    assert service.store.marked(sender) == set()


# --------------------------------------------------------------------------- lists


def test_similar_names_seed_and_sends_cards(service, sender):
    text = "movies like Moon"
    messages, events = run(ActionSimilar(service), sender, text, "ask_similar", [title_entity(text, "Moon")])
    assert responses(messages) == ["utter_similar_none"]
    assert messages[0]["seed"] == "Moon (2009)"
    cards = messages[1]["custom"]
    assert cards["type"] == "movie_cards"
    assert cards["seed"]["movie_id"] == 68237
    assert len(cards["movies"]) == 5
    assert 68237 not in [movie["movie_id"] for movie in cards["movies"]]
    assert messages[0]["lines"].startswith("1. ")
    assert slots_from(events)["last_list"]["shown"] == 5


def test_similar_unknown_title(service, sender):
    messages, _ = run(ActionSimilar(service), sender, "something like Flumpenstein Galaxy Nine", "ask_similar")
    assert responses(messages) == ["utter_movie_not_found"]
    assert messages[0]["query"] == "Flumpenstein Galaxy Nine"


def test_similar_ambiguous_asks(service, sender):
    text = "suggest movies like Godzilla"
    messages, events = run(ActionSimilar(service), sender, text, "ask_similar", [title_entity(text, "Godzilla")])
    assert responses(messages) == ["utter_ask_which_movie"]
    titles = [button["title"] for button in messages[0]["buttons"]]
    assert "Godzilla (1998)" in titles
    assert slots_from(events)["pending_intent"] == "similar"


def test_chart_then_more(service, sender):
    messages, events = run(ActionChart(service), sender, "best whodunits", "ask_chart")
    assert responses(messages) == ["utter_chart_list"]
    assert messages[0]["label"] == "Mystery movies"
    lines = messages[0]["lines"].split("\n")
    assert len(lines) == 10
    assert lines[0].startswith("1. The Usual Suspects (1995) — ")
    slots = slots_from(events)

    messages, events = run(ActionMore(service), sender, "more", "more", slots=slots)
    assert responses(messages) == ["utter_more_list"]
    assert messages[0]["lines"].startswith("11. ")
    assert slots_from(events)["last_list"]["shown"] == 20


def test_chart_button_without_words(service, sender):
    messages, _ = run(ActionChart(service), sender, "/ask_chart", "ask_chart")
    assert responses(messages) == ["utter_chart_list"]
    assert messages[0]["label"] == "movies"


def test_more_without_list(service, sender):
    messages, _ = run(ActionMore(service), sender, "more", "more")
    assert responses(messages) == ["utter_no_list_yet"]


def test_more_like_title_is_similar(service, sender):
    messages, _ = run(ActionMore(service), sender, "more like Signs please", "more")
    assert responses(messages) == ["utter_similar_none"]
    assert messages[0]["seed"] == "Signs (2002)"


def test_chart_names_person_instead(service, sender):
    messages, _ = run(ActionChart(service), sender, "Jennifer Lawrence films worth seeing", "ask_chart")
    assert responses(messages) == ["utter_person_list"]
    assert messages[0]["person"] == "Jennifer Lawrence"


def test_person_director(service, sender):
    messages, _ = run(ActionPerson(service), sender, "anything by Aronofsky?", "ask_person")
    assert responses(messages) == ["utter_person_list"]
    assert messages[0]["role_phrase"] == "Movies directed by"
    assert messages[0]["person"] == "Darren Aronofsky"


def test_person_unknown(service, sender):
    text = "movies with Zyxw Qvbn"
    messages, _ = run(ActionPerson(service), sender, text, "ask_person", [title_entity(text, "Zyxw Qvbn", "person")])
    assert responses(messages) == ["utter_person_not_found"]


def test_recommend_newcomer_offers_onboarding(service, sender):
    messages, _ = run(ActionRecommend(service), sender, "recommend me something", "recommend")
    assert responses(messages) == ["utter_popular_for_newcomer", "utter_offer_onboarding"]


def test_recommend_with_written_score_is_rating(service, sender):
    messages, _ = run(ActionRecommend(service), sender, "★★★ for Grease", "recommend")
    assert responses(messages) == ["utter_rating_saved"]
    assert stored(service, sender) == {1380: 3.0}


def test_chart_with_title_and_score_is_rating(service, sender):
    messages, _ = run(ActionChart(service), sender, "Mary Poppins 4", "ask_chart")
    assert responses(messages) == ["utter_rating_saved"]
    assert stored(service, sender) == {1028: 4.0}


def test_chart_with_count_is_chart(service, sender):
    messages, _ = run(ActionChart(service), sender, "top 5 movies", "ask_chart")
    assert responses(messages) == ["utter_chart_list"]
    assert stored(service, sender) == {}


def test_fallback_with_title_and_score_is_rating(service, sender):
    messages, _ = run(ActionFallback(service), sender, "I'd give Mary Poppins 4", "nlu_fallback")
    assert responses(messages) == ["utter_rating_saved"]
    assert stored(service, sender) == {1028: 4.0}


def test_fallback_with_full_name_lists_films(service, sender):
    messages, _ = run(ActionFallback(service), sender, "list some M. Night Shyamalan films", "nlu_fallback")
    assert responses(messages) == ["utter_person_list"]
    assert messages[0]["person"] == "M. Night Shyamalan"


def test_fallback_bare_title_gives_facts(service, sender):
    messages, _ = run(ActionFallback(service), sender, "Inception", "nlu_fallback")
    assert responses(messages) == ["utter_movie_info"]
    assert messages[0]["movie"] == "Inception (2010)"
    assert messages[0]["director"] == "Christopher Nolan"


def test_fallback_bare_shared_title_asks_which(service, sender):
    messages, events = run(ActionFallback(service), sender, "hamlet", "nlu_fallback")
    assert responses(messages) == ["utter_ask_which_movie"]
    titles = [button["title"] for button in messages[0]["buttons"]]
    assert "Hamlet (1996)" in titles
    assert "Hamlet (1990)" in titles
    assert slots_from(events)["pending_intent"] == "info"


def test_fallback_misspelt_bare_title_not_guessed(service, sender):
    messages, _ = run(ActionFallback(service), sender, "the matrx", "nlu_fallback")
    assert responses(messages) == ["utter_not_understood"]


def test_next_watch_after_ratings_excludes_rated(service, sender):
    run(ActionRateMovie(service), sender, "Heat 4 stars", "rate_movie")
    messages, _ = run(ActionNextWatch(service), sender, "what should I watch next?", "next_watch")
    assert responses(messages)[0] == "utter_nextwatch_list"
    assert "utter_few_ratings_note" in responses(messages)
    assert "utter_model_fallback_note" in responses(messages)
    ids = [movie["movie_id"] for movie in messages[1]["custom"]["movies"]]
    assert 6 not in ids


def test_mark_seen_from_last_list(service, sender):
    _, events = run(ActionChart(service), sender, "top westerns", "ask_chart")
    slots = slots_from(events)
    shown = [card["movie_id"] for card in slots["last_list"]["cards"][:10]]
    messages, _ = run(ActionMarkSeen(service), sender, "seen them all", "seen_it", slots=slots)
    assert responses(messages) == ["utter_marked_seen"]
    assert service.store.marked(sender) == set(shown)
    messages, _ = run(ActionMarkSeen(service), sender, "seen it", "seen_it", slots=slots)
    assert responses(messages) == ["utter_ask_which_to_mark"]
    assert len(messages[0]["buttons"]) == 6


def test_mark_seen_by_title(service, sender):
    messages, _ = run(ActionMarkSeen(service), sender, "I've seen Heat already", "seen_it")
    assert responses(messages) == ["utter_marked_seen"]
    assert messages[0]["movies"] == "Heat (1995)"
    assert service.store.marked(sender) == {6}


# --------------------------------------------------------------------------- talk


def test_info_hard_title(service, sender):
    messages, _ = run(ActionMovieInfo(service), sender, "Elf - give me the basics", "ask_info")
    assert responses(messages) == ["utter_movie_info"]
    assert messages[0]["movie"] == "Elf (2003)"
    assert messages[0]["director"] == "Jon Favreau"


def test_info_ambiguous(service, sender):
    messages, events = run(ActionMovieInfo(service), sender, "The Karate Kid - who directed it?", "ask_info")
    assert responses(messages) == ["utter_ask_which_movie"]
    assert [button["title"] for button in messages[0]["buttons"]] == ["The Karate Kid (1984)", "The Karate Kid (2010)"]
    assert slots_from(events)["pending_intent"] == "info"


def test_greet_newcomer_and_returning(service, sender):
    messages, _ = run(ActionGreet(service), sender, "hi", "greet")
    assert responses(messages) == ["utter_greet_newcomer"]
    service.rate(sender, 6, 4.0)
    messages, _ = run(ActionGreet(service), sender, "hi", "greet")
    assert responses(messages) == ["utter_greet_back"]
    assert messages[0]["count"] == 1


@pytest.mark.parametrize("text, response", [
    ("", "utter_empty_message"),
    ("\t\t", "utter_empty_message"),
    ("🤔🎥🎭", "utter_no_words"),
    ("영화 하나 추천해 줄래?", "utter_english_only"),
    ("blorp the wibble", "utter_not_understood"),
])
def test_fallback_explains(service, sender, text, response):
    messages, _ = run(ActionFallback(service), sender, text, "nlu_fallback")
    assert responses(messages) == [response]


def test_action_without_words_replies(service, sender):
    messages, _ = run(ActionSimilar(service), sender, "\u0000\u0000", "ask_similar")
    assert responses(messages) == ["utter_empty_message"]


def test_internal_error_apologises_and_logs(service, sender, caplog, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(service, "chart", broken)
    with caplog.at_level(logging.ERROR, logger="actions.common"):
        messages, events = run(ActionChart(service), sender, "top comedies", "ask_chart")
    assert responses(messages) == ["utter_internal_error"]
    assert events == []
    assert sender in caplog.text
    assert "KeyError" in caplog.text


def test_engine_unavailable(service, sender, monkeypatch):
    action = ActionChart(service)
    monkeypatch.setattr(action, "_service", None)
    messages, _ = run(action, sender, "top comedies", "ask_chart")
    assert responses(messages) == ["utter_engine_unavailable"]


# --------------------------------------------------------------------------- domain and data


def _domain() -> dict[str, Any]:
    import yaml

    from recengine.config import REPO_ROOT

    return yaml.safe_load((REPO_ROOT / "domain.yml").read_text())


def _action_sources() -> str:
    from recengine.config import REPO_ROOT

    return "\n".join(path.read_text() for path in sorted((REPO_ROOT / "actions").glob("*.py")))


def test_every_response_an_action_sends_exists():
    import re

    sent = set(re.findall(r'"(utter_[a-z_]+)"', _action_sources()))
    assert sent <= set(_domain()["responses"])


def test_every_response_is_sent_somewhere():
    import re

    from recengine.config import REPO_ROOT

    rules = (REPO_ROOT / "data" / "rules.yml").read_text()
    sent = set(re.findall(r'"(utter_[a-z_]+)"', _action_sources())) | set(re.findall(r"(utter_[a-z_]+)", rules))
    assert set(_domain()["responses"]) <= sent


def test_every_domain_action_is_implemented():
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("actions")
    assert set(_domain()["actions"]) == set(executor.actions)


@pytest.mark.slow
def test_rasa_data_validate_is_clean():
    # The only warnings allowed are Rasa's notes that a response is not used in a story or rule,
    # for responses that the custom actions send (the validator cannot see into them).
    import re
    import subprocess

    from recengine.config import REPO_ROOT

    completed = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "rasa"), "data", "validate"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=600,
                               env={**__import__("os").environ, "SQLALCHEMY_SILENCE_UBER_WARNING": "1"})
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    sent = set(re.findall(r'"(utter_[a-z_]+)"', _action_sources()))
    for line in output.splitlines():
        if "UserWarning" not in line or "DeclarativeMeta" in line or "MovedIn20Warning" in line:
            continue
        unused = re.search(r"The utterance '(utter_[a-z_]+)' is not used in any story or rule", line)
        assert unused and unused.group(1) in sent, line
    assert "No story structure conflicts found" in output
