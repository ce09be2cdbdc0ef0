"""MovieService on the real ml-latest-small catalog with a real SQLite ratings store.

The service is built without trained models here (the fallbacks are part of what is tested);
one slow test fits the content model to check similar-movie answers.
"""

from __future__ import annotations

import uuid

import pytest

from recengine.errors import InvalidRatingError
from recengine.service import AMBIGUOUS, FOUND, NO_TITLE, NOT_FOUND, MovieList, MovieService, ServiceConfig
from recengine.store import RatingsStore


@pytest.fixture(scope="module")
def service(movielens_small, tmp_path_factory):
    store = RatingsStore(f"sqlite:///{tmp_path_factory.mktemp('service') / 'ratings.db'}")
    built = MovieService(movielens_small.catalog, store, missing={"content": "not built in this test"})
    yield built
    built.close()


@pytest.fixture
def user() -> str:
    return f"user-{uuid.uuid4().hex}"


@pytest.mark.parametrize("text, movie_id", [
    ("Drive gets a 1.5 from me", 88129),
    ("Elf - give me the basics", 6936),
    ("more like Signs please", 5502),
    ("movies like Moon", 68237),
    ("something similar to Ghost", 587),
    ("what's similar to the truman show", 1682),
    ("recommendations like Donny Darko", 4878),
    ("I'd like films resembling Y tu mamá también", 5225),
    ("movies like Scarface (1983)", 4262),
    ("anything like Face Off?", 1573),
    ("films like The Two Towers", 5952),
    ("which director made l.a. confidential", 1617),
])
def test_find_title_without_hint(service, text, movie_id):
    lookup = service.find_title(text)
    assert lookup.status == FOUND
    assert lookup.movie.movie_id == movie_id


def test_find_title_prefers_hint(service):
    # The NLU's span wins over a shorter catalog title inside it ("Requiem" is not meant).
    text = "movies similar to Requiem for a Dreem"
    start = text.index("Requiem")
    lookup = service.find_title(text, "Requiem for a Dreem", (start, len(text)))
    assert lookup.movie.movie_id == 3949


def test_misspelt_long_title_beats_short_exact_one(service):
    lookup = service.find_title("movies similar to Requiem for a Dreem")
    assert lookup.movie.movie_id == 3949


def test_find_title_hint_with_trailing_words(service):
    text = "more like Signs please"
    lookup = service.find_title(text, "Signs please", (10, len(text)))
    assert lookup.movie.movie_id == 5502


def test_find_title_adds_year_after_hint(service):
    text = "movies like Scarface (1983)"
    lookup = service.find_title(text, "Scarface", (12, 20))
    assert lookup.movie.movie_id == 4262


def test_ambiguous_title_lists_candidates(service):
    lookup = service.find_title("The Karate Kid - who directed it?")
    assert lookup.status == AMBIGUOUS
    assert [movie.movie_id for movie in lookup.candidates] == [2420, 79224]


def test_far_better_known_title_picked(service):
    # Titanic (1997) has 140 ratings, Titanic (1953) has 6: no need to ask.
    lookup = service.find_title("Titanic was awful")
    assert lookup.status == FOUND
    assert lookup.movie.movie_id == 1721
    assert lookup.picked_most_known
    assert [movie.movie_id for movie in lookup.candidates] == [3404]


def test_dominance_ratio_setting_changes_choice(movielens_small, tmp_path):
    store = RatingsStore(f"sqlite:///{tmp_path / 'r.db'}")
    strict = MovieService(movielens_small.catalog, store, ServiceConfig(dominance_ratio=1000.0))
    assert strict.find_title("Titanic").status == AMBIGUOUS
    store.close()


def test_unknown_title_offers_closest(service):
    lookup = service.find_title("tell me about jurasik parc 7")
    assert lookup.status in (FOUND, NOT_FOUND)
    missing = service.find_title("something like Flumpenstein Galaxy Nine")
    assert missing.status == NOT_FOUND
    assert missing.query == "Flumpenstein Galaxy Nine"


def test_longer_unknown_title_not_read_as_short_one(service):
    # "Once" (2006) is in the catalog, but the user named a longer movie the catalog lacks.
    lookup = service.find_title("rate Everything Everywhere All at Once 5 stars", ignore=[(39, 46)])
    assert lookup.status == NOT_FOUND


def test_no_title(service):
    assert service.find_title("").status == NO_TITLE
    assert service.find_title("movies like please").status == NO_TITLE


def test_quoted_query_is_safe(service):
    lookup = service.find_title("tell me about <iframe src=\"javascript:alert(1)\"></iframe>")
    assert "<" not in lookup.query
    assert "{" not in lookup.query


@pytest.mark.parametrize("text, movie_id, value", [
    ("I adored Amadeus", 1225, 5.0),
    ("4 out of 5 for Galaxy Quest", 3175, 4.0),
    ("rate zoolander two and a half stars", 4816, 2.5),
    ("Waterworld was dreadful", 208, 1.0),
    ("7/10 for District 9", 70286, 3.5),
    ("Drive gets a 1.5 from me", 88129, 1.5),
    ("★★★ for Grease", 1380, 3.0),
    ("I'd give Borat 9/10", 48385, 4.5),
    ("Juno was lovely, 4 stars from me", 56367, 4.0),
    ("The Incredables: 4.5 stars", 8961, 4.5),
    ("Catwoman - 0.5", 8666, 0.5),
    ("Men in Black 4.5", 1580, 4.5),
    ("Ice Age 3", 5218, 3.0),
    ("Kung Fu Panda 4", 59784, 4.0),
    ("The Italian Job (2003) five stars", 6378, 5.0),
    ("Gone in 60 Seconds (2000) four stars", 3717, 4.0),
    ("Good Will Hunting was dreadful", 1704, 1.0),
])
def test_read_rating(service, text, movie_id, value):
    request = service.read_rating(text)
    assert request.lookup.status == FOUND
    assert request.lookup.movie.movie_id == movie_id
    assert request.score.value == value


def test_read_rating_keeps_title_digits(service):
    request = service.read_rating("rate District 9")
    assert request.lookup.movie.movie_id == 70286
    assert request.score is None
    request = service.read_rating("rate Toy Story 3")
    assert request.lookup.movie.title == "Toy Story 3"
    assert request.score is None


def test_read_rating_out_of_range(service):
    for text in ("Top Gun gets 0 stars", "rate Stargate 12/10", "rate Dogma infinity stars"):
        request = service.read_rating(text)
        assert request.lookup.status == FOUND, text
        assert request.score.out_of_range, text


def test_read_rating_mention_without_score(service):
    request = service.read_rating("I watched Up")
    assert request.lookup.movie.movie_id == 68954
    assert request.score is None


def test_rate_replaces_and_reports_previous(service, user):
    first = service.rate(user, 6, 4.0)
    assert first.previous is None
    second = service.rate(user, 6, 2.5)
    assert second.previous == 4.0
    assert service.ratings(user)[0][0].movie_id == 6
    assert service.ratings(user)[0][1] == 2.5


def test_rate_rejects_off_scale(service, user):
    with pytest.raises(InvalidRatingError):
        service.rate(user, 6, 6.0)
    assert service.ratings(user) == []


def test_forget_removes_ratings_and_marks(service, user):
    service.rate(user, 6, 4.0)
    service.rate(user, 1, 3.0)
    service.mark(user, [2], "seen")
    assert service.forget(user) == 2
    assert service.ratings(user) == []
    assert service.blocked(user) == set()


def test_marks_block_suggestions(service, user):
    marked = service.mark(user, [318, 999999999], "not_interested")
    assert [movie.movie_id for movie in marked] == [318]
    chart = service.recommend(user)
    assert 318 not in [card.movie_id for card in chart.cards]


def test_chart_genre_and_decade(service):
    chart = service.chart(("Horror",), 1970, 1979)
    assert len(chart.page()) >= 5
    for card in chart.cards:
        assert "Horror" in card.genres
        assert 1970 <= card.year <= 1979
    assert chart.label == "Horror movies of the 1970s"


def test_chart_two_genres_requires_both(service):
    chart = service.chart(("Romance", "Comedy"), 1990, 1999)
    assert len(chart.page()) >= 5
    for card in chart.cards:
        assert {"Romance", "Comedy"} <= set(card.genres)


def test_chart_tops_up_when_few_qualify(service):
    chart = service.chart(("Film-Noir",), 1940, 1949)
    assert chart.qualified is not None
    assert len(chart.page()) > chart.qualified
    assert all("Film-Noir" in card.genres for card in chart.cards)


def test_chart_open_range(service):
    chart = service.chart(("Drama",), None, 1959)
    assert chart.page()
    assert all(card.year <= 1959 for card in chart.cards)


def test_newcomer_gets_popular_picks(service, user):
    picks = service.recommend(user)
    assert picks.kind == "popular"
    assert picks.fallback_reason == "no ratings yet"
    assert picks.cards[0].movie_id == 318  # The Shawshank Redemption tops the overall chart


def test_personal_without_models_falls_back_honestly(service, user):
    service.rate(user, 1, 5.0)
    picks = service.recommend(user)
    assert picks.kind == "personal"
    assert picks.source == "popularity"
    assert "the svd model is not built" in picks.fallback_reason
    assert 1 not in [card.movie_id for card in picks.cards]


def test_similar_without_content_uses_seed_genre_chart(service):
    similar = service.similar(5502)
    assert similar.source == "popularity"
    assert similar.seed_id == 5502
    assert 5502 not in [card.movie_id for card in similar.cards]
    assert similar.fallback_reason


def test_find_person_surname_and_lower_case(service):
    assert service.find_person("anything by Aronofsky?").name == "Darren Aronofsky"
    assert service.find_person("anything with adam sandler in it").name == "Adam Sandler"
    assert service.find_person("list some M. Night Shyamalan films").name == "M. Night Shyamalan"
    assert service.find_person("movies with Nobody Atall") is None


def test_person_movies_by_role(service):
    person = service.find_person("movies Edgar Wright directed")
    directed = service.person_movies(person, "director")
    assert {card.movie_id for card in directed.cards} == {8874, 51255, 79702, 103341}
    assert directed.cards[0].reason == "directed by Edgar Wright"


def test_list_state_round_trip(service):
    chart = service.chart(("Western",))
    state = chart.to_state(shown=10)
    restored = MovieList.from_state(state)
    assert [card.movie_id for card in restored.cards] == [card.movie_id for card in chart.cards]
    assert restored.page(10)[0].movie_id == chart.cards[10].movie_id
    with pytest.raises(ValueError):
        MovieList.from_state({"kind": "chart"})


def test_onboarding_skips_rated(service, user):
    first = service.onboarding_movies(user, 3)
    service.rate(user, first[0].movie_id, 4.0)
    again = service.onboarding_movies(user, 3)
    assert first[0].movie_id not in [movie.movie_id for movie in again]
    assert again[0].movie_id == first[1].movie_id


@pytest.mark.slow
def test_similar_with_content_model(movielens_small, tmp_path):
    from recengine.content import ContentModel

    store = RatingsStore(f"sqlite:///{tmp_path / 'r.db'}")
    content = ContentModel.fit(movielens_small.catalog)
    with_content = MovieService(movielens_small.catalog, store, models={"content": content})
    similar = with_content.similar(2762)  # The Sixth Sense
    assert similar.source == "content"
    assert len(similar.page()) == 5
    assert 2762 not in [card.movie_id for card in similar.cards]
    assert all(card.reason for card in similar.cards)
    store.close()
