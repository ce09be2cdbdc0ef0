"""People search: full names, surnames, case, typos, and names inside sentences."""

from __future__ import annotations

import pytest

from recengine.people import PeopleIndex


@pytest.fixture(scope="module")
def people(movielens_small) -> PeopleIndex:
    return PeopleIndex(movielens_small.catalog)


def test_full_name_any_case(people):
    match = people.find("adam sandler")[0]
    assert match.name == "Adam Sandler" and match.score == 100
    assert 104 in match.acted  # Happy Gilmore (1996)
    assert match.main_role == "actor"


def test_surname_alone_finds_director(people):
    match = people.find("Aronofsky")[0]
    assert match.name == "Darren Aronofsky"
    assert set(match.directed) == {1921, 3949, 48043, 64839, 81591, 110127}
    assert match.main_role == "director"


def test_shared_surname_ranks_by_rated_movies(people):
    names = [match.name for match in people.find("Smith")]
    assert names[0] == "Will Smith"
    assert "Kevin Smith" in names


def test_typo_in_full_name(people):
    assert people.find("Tom Hanx")[0].name == "Tom Hanks"


def test_movies_most_rated_first(people, movielens_small):
    acted = people.find("Will Smith")[0].acted
    counts = [movielens_small.catalog.movie(movie_id).rating_count for movie_id in acted]
    assert counts == sorted(counts, reverse=True)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("what are some Will Smith movies?", "Will Smith"),
        ("anything with adam sandler in it", "Adam Sandler"),
        ("Salma Hayek - which of her films do you have?", "Salma Hayek"),
        ("anything by Aronofsky?", "Darren Aronofsky"),
        ("list some M. Night Shyamalan films", "M. Night Shyamalan"),
        ("Spielberg's best", "Steven Spielberg"),
    ],
)
def test_find_mentions(people, text, name):
    mentions = people.find_mentions(text)
    assert mentions and mentions[0].matches[0].name == name


def test_ordinary_lower_case_word_is_not_a_surname(people):
    # "stone" is a surname (Emma Stone) but also a word in movie titles, so lower case does not count.
    assert people.find_mentions("a movie about a stone") == []
    assert people.find_mentions("something like Fight Club") == []


def test_unknown_person(people):
    assert people.find("Zzyzx Qwerty") == []
    assert people.find("") == []
