"""Title search on the real ml-latest-small catalog: the variants people type, ties and misses."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from recengine.search import TitleIndex, title_key

MENTIONS = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "title_mentions.csv"


@pytest.fixture(scope="module")
def index(movielens_small) -> TitleIndex:
    return TitleIndex(movielens_small.catalog)


def best_id(index: TitleIndex, text: str) -> int | None:
    best = index.resolve(text).best
    return best.movie_id if best else None


def test_title_key_normalisation():
    assert title_key("Matrix, The") == "matrix"
    assert title_key("THE MATRIX!") == "matrix"
    assert title_key("Rocky II") == title_key("rocky 2") == "rocky 2"
    assert title_key("Harry Potter and the Deathly Hallows: Part 2") == "harry potter the deathly hallows 2"
    assert title_key("Amélie") == "amelie"
    assert title_key("Marley & Me") == title_key("Marley and Me")
    assert title_key("Face/Off") == title_key("Face Off")


@pytest.mark.parametrize(
    ("text", "movie_id"),
    [
        ("the matrx", 2571),                # typo and article
        ("heat 1995", 6),                   # year hint
        ("Amelie", 4973),
        ("Rocky 2", 2409),                  # digit for "Rocky II"
        ("rocky ii", 2409),
        ("Up", 68954),                      # everyday words as whole mentions
        ("Her", 106920),
        ("Big", 2797),
        ("Heat", 6),                        # "The Heat" (2013) scores one point less
        ("sixth sense", 2762),
        ("Donny Darko", 4878),              # two edits
        ("Slumdog Millionare", 63082),
        ("The Incredables", 8961),
        ("Y tu mamá también", 5225),        # alternative title with accents
        ("Lola rennt", 2692),
        ("ID4", 780),                       # a.k.a. title
        ("Men in Black 2", 5459),
        ("Star Trek II", 1374),             # first part of "Star Trek II: The Wrath of Khan"
        ("The Two Towers", 5952),           # later part of a title
        ("Harry Potter and the Deathly Hallows 2", 88125),
        ("Scarface (1983)", 4262),
        ("Face Off", 1573),
        ("l.a. confidential", 1617),
        ("Borat", 48385),
        ("Blade Runner 2049", 176371),      # a number that is part of the title, not a year hint
        ("Godzilla 2000", 3864),
    ],
)
def test_resolves_variants(index, text, movie_id):
    assert best_id(index, text) == movie_id


@pytest.mark.parametrize(
    ("text", "tied_ids"),
    [
        ("hamlet", [1411, 3723, 3598, 1941, 2820]),
        ("Godzilla", [1882, 111364, 2363, 2364]),
        ("Beauty and the Beast", [595, 7064, 168366]),
        ("Total Recall", [2916, 95875]),
        ("The Karate Kid", [2420, 79224]),
    ],
)
def test_same_title_is_a_tie_by_popularity(index, text, tied_ids, movielens_small):
    resolution = index.resolve(text)
    assert resolution.is_ambiguous
    assert [match.movie_id for match in resolution.tied] == tied_ids
    counts = [movielens_small.catalog.movie(movie_id).rating_count for movie_id in tied_ids]
    assert counts == sorted(counts, reverse=True)


@pytest.mark.parametrize("text", ["Everything Everywhere All at Once", "Flumpenstein Galaxy Nine", "", "   ", "🤔🎥", "x' UNION SELECT username FROM users --"])
def test_unknown_titles_find_nothing(index, text):
    assert not index.resolve(text).found


def test_search_returns_ranked_candidates(index):
    matches = index.search("Independence Day", limit=3)
    assert [match.movie_id for match in matches][:2] == [780, 135567]
    assert matches[0].score == 100
    assert matches[0].score > matches[1].score


def test_short_query_is_not_fuzzy(index):
    # "Upp" is one edit from "Up" (and "Hre" one swap from "Her"), but keys of four letters or
    # fewer allow no edits: everyday words would match too many short titles.
    assert not index.resolve("Upp").found
    assert not index.resolve("Hre").found


@pytest.mark.parametrize(
    ("text", "mention", "movie_id"),
    [
        ("Drive gets a 1.5 from me", "Drive", 88129),
        ("Elf - give me the basics", "Elf", 6936),
        ("more like Signs please", "Signs", 5502),
        ("I watched Up", "Up", 68954),
        ("movies like Scarface (1983)", "Scarface", 4262),
        ("Independence Day: 4 stars", "Independence Day", 780),
        ("what's like Harry Potter and the Deathly Hallows 2", "Harry Potter and the Deathly Hallows 2", 88125),
    ],
)
def test_find_mentions_in_sentences(index, text, mention, movie_id):
    found = index.find_mentions(text)
    assert [m.text for m in found] == [mention]
    assert text[found[0].start:found[0].end] == mention
    assert found[0].resolution.best.movie_id == movie_id


def test_lower_case_everyday_word_is_not_a_mention(index):
    assert index.find_mentions("cheer me up with something") == []


def test_labelled_mentions_top1_accuracy(index):
    with open(MENTIONS, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 200
    correct = sum(best_id(index, row["mention"]) == int(row["movie_id"]) for row in rows)
    # The benchmark measured 100% when the set was written; 97% leaves room for deliberate trade-offs.
    assert correct / len(rows) >= 0.97, f"top-1 accuracy {correct / len(rows):.1%}"


def test_closest_offers_suggestions_for_a_miss(index):
    assert not index.resolve("Galaxy Quests of the Stars").found
    suggestions = [match.movie_id for match in index.closest("Galaxy Quests of the Stars")]
    assert 3175 in suggestions  # Galaxy Quest (1999)
    assert index.closest("") == []
