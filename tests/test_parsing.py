"""Scores, genres, years and cleaning read from what users type (no Rasa, no data)."""

from __future__ import annotations

import pytest

from recengine.parsing import (
    GENRE_SYNONYMS, MOVIELENS_GENRES, choose_score, clean_text, cut_spans, find_genres, find_scores,
    find_sentiment, format_stars, has_meaning, normalise_genre, parse_count, parse_years, round_to_half,
    strip_request_words,
)


@pytest.mark.parametrize("text, value, kind", [
    ("4.5", 4.5, "number"),
    ("rate the godfather 4.5", 4.5, "number"),
    ("4 out of 5 for Galaxy Quest", 4.0, "fraction"),
    ("7/10 for District 9", 3.5, "fraction"),
    ("I'd give Borat 9/10", 4.5, "fraction"),
    ("Shaun of the Dead 4.5/5", 4.5, "fraction"),
    ("rate zoolander two and a half stars", 2.5, "stars"),
    ("The Rock three and a half stars", 3.5, "stars"),
    ("The Italian Job (2003) five stars", 5.0, "stars"),
    ("give RoboCop 3.5 stars", 3.5, "stars"),
    ("half a star for Catwoman", 0.5, "stars"),
    ("Heat 4 1/2 stars", 4.5, "stars"),
    ("a 5-star film, Heat", 5.0, "stars"),
    ("★★★ for Grease", 3.0, "symbols"),
    ("Heat ★★★½", 3.5, "symbols"),
    ("⭐⭐⭐⭐ Heat", 4.0, "symbols"),
    ("Heat ***", 3.0, "symbols"),
    ("Drive gets a 1.5 from me", 1.5, "number"),
    ("Catwoman - 0.5", 0.5, "number"),
    ("Men in Black 4.5", 4.5, "number"),
    ("Kung Fu Panda 4", 4.0, "number"),
    ("Heat 4,5", 4.5, "number"),
])
def test_explicit_scores(text, value, kind):
    score = choose_score(text)
    assert score is not None
    assert score.value == value
    assert score.kind == kind
    assert not score.out_of_range


def test_ten_point_scale_halved_and_rounded():
    score = choose_score("8.5/10 for Heat")
    assert score.value == 4.5
    assert score.exact is False
    assert choose_score("Heat 60/100").value == 3.0


@pytest.mark.parametrize("text", [
    "Top Gun gets 0 stars", "rate Stargate 12/10", "rate Dogma infinity stars", "Top Gun 6 stars",
    "a million stars for Up", "zero stars for Heat", "Heat -1 stars", "Heat 11/10", "Heat ∞ stars",
])
def test_out_of_range_scores_flagged(text):
    score = choose_score(text)
    assert score is not None
    assert score.out_of_range
    assert score.value is None


@pytest.mark.parametrize("text, low, high", [
    ("I adored Amadeus", 4.5, 5.0),
    ("I loved Inception", 4.5, 5.0),
    ("I enjoyed Chicken Run", 3.5, 4.5),
    ("I liked Heat", 3.5, 4.5),
    ("Pearl Harbor was meh", 2.5, 3.5),
    ("Heat was okay", 2.5, 3.5),
    ("wasn't a fan of Con Air", 1.0, 2.5),
    ("I disliked Heat", 1.0, 2.5),
    ("Waterworld was dreadful", 0.5, 1.5),
    ("I hated Titanic", 0.5, 1.5),
    ("Titanic was awful", 0.5, 1.5),
])
def test_sentiment_ranges(text, low, high):
    score = choose_score(text)
    assert score.kind == "sentiment"
    assert low <= score.value <= high


def test_negation_beats_the_word_inside():
    assert find_sentiment("I didn't like Heat").value == 2.0
    assert find_sentiment("Heat was not bad").value == 3.0
    assert find_sentiment("it wasn't great").value == 2.0


def test_explicit_score_beats_sentiment():
    score = choose_score("Juno was lovely, 4 stars from me")
    assert score.value == 4.0
    assert score.kind == "stars"


def test_sentiment_inside_title_ignored():
    text = "Good Will Hunting was dreadful"
    title = (0, len("Good Will Hunting"))
    assert find_sentiment(text, ignore=[title]).value == 1.0
    assert find_sentiment("rate Good Will Hunting", ignore=[(5, 22)]) is None


def test_number_inside_title_ignored():
    text = "7/10 for District 9"
    scores = find_scores(text, ignore=[(9, 19)])
    assert [score.given for score in scores] == ["7/10"]


def test_number_in_title_not_valid_score():
    # "60" is not a score, so "Gone in 60 Seconds" alone has none.
    assert choose_score("Gone in 60 Seconds") is None
    # A trailing bare number out of range is reported so the caller can decide.
    assert choose_score("rate District 9").out_of_range


def test_years_in_titles_not_scores():
    assert choose_score("Scarface 1983") is None
    assert choose_score("The Italian Job (2003)") is None


def test_no_score_in_plain_mention():
    assert choose_score("I watched Up") is None
    assert choose_score("a star is born") is None


def test_round_to_half():
    assert round_to_half(4.25) == 4.5
    assert round_to_half(3.7) == 3.5
    assert round_to_half(3.74) == 3.5
    assert round_to_half(3.75) == 4.0


def test_format_stars():
    assert format_stars(1.0) == "1 star"
    assert format_stars(4.0) == "4 stars"
    assert format_stars(0.5) == "0.5 stars"


@pytest.mark.parametrize("text, genres", [
    ("most popular family films", ("Children",)),
    ("2010s sci fi - what are the standouts?", ("Sci-Fi",)),
    ("best scifi", ("Sci-Fi",)),
    ("science fiction classics", ("Sci-Fi",)),
    ("top rated cowboy movies", ("Western",)),
    ("best whodunits", ("Mystery",)),
    ("noir classics worth watching", ("Film-Noir",)),
    ("some film-noir", ("Film-Noir",)),
    ("funniest movies ever made", ("Comedy",)),
    ("scary movies", ("Horror",)),
    ("cartoons for tonight", ("Animation",)),
    ("good kids movies", ("Children",)),
    ("highest rated 90s romantic comedies", ("Romance", "Comedy")),
    ("a romcom please", ("Romance", "Comedy")),
    ("rom-coms", ("Romance", "Comedy")),
    ("the finest pre-1960 dramas", ("Drama",)),
    ("top Thrillers", ("Thriller",)),
])
def test_genre_synonyms(text, genres):
    found = find_genres(text)
    assert len(found) == 1
    assert found[0].genres == genres


def test_every_genre_name_is_its_own_synonym():
    for genre in MOVIELENS_GENRES:
        assert normalise_genre(genre) == (genre,)
    assert normalise_genre("sci fi") == ("Sci-Fi",)
    assert normalise_genre("unknownword") == ()


def test_synonyms_map_to_movielens_genres():
    for word, genres in GENRE_SYNONYMS.items():
        assert set(genres) <= set(MOVIELENS_GENRES), word


@pytest.mark.parametrize("text, low, high", [
    ("best 90s thrillers", 1990, 1999),
    ("films of the '80s", 1980, 1989),
    ("the 1970s", 1970, 1979),
    ("good horror flicks from the seventies", 1970, 1979),
    ("2010s sci fi", 2010, 2019),
    ("movies from the 2000s", 2000, 2009),
    ("the noughties", 2000, 2009),
    ("late 90s comedies", 1996, 1999),
    ("early 80s action", 1980, 1983),
    ("best films released in 1994", 1994, 1994),
    ("the finest pre-1960 dramas", None, 1959),
    ("anything before the 80s", None, 1979),
    ("scary movies after 2000", 2001, None),
    ("thrillers since 2010", 2010, None),
    ("westerns between 1960 and 1975", 1960, 1975),
    ("westerns 1960-1975", 1960, 1975),
    ("from the 80s", 1980, 1989),
])
def test_years(text, low, high):
    years = parse_years(text)
    assert years is not None
    assert (years.year_from, years.year_to) == (low, high)


def test_year_in_brackets_not_a_filter():
    assert parse_years("movies like Scarface (1983)") is None
    assert parse_years("top comedies") is None


def test_year_range_described():
    assert parse_years("90s").describe() == "of the 1990s"
    assert parse_years("pre-1960").describe() == "before 1960"
    assert parse_years("in 1994").describe() == "from 1994"
    assert parse_years("since 2010").describe() == "since 2010"


def test_count():
    assert parse_count("top 5 comedies") == 5
    assert parse_count("best ten westerns") == 10
    assert parse_count("top 90s thrillers") is None
    assert parse_count("top 99 films") == 20
    assert parse_count("best films", default=10) == 10


def test_clean_text_removes_control_and_odd_spaces():
    assert clean_text("find\u0000 me\u0000 a comedy") == "find me a comedy"
    assert clean_text("\t\t") == ""
    assert clean_text(" \u3000 ") == ""
    assert clean_text("a\u200bb") == "ab"
    assert clean_text("x" * 5000, max_length=100) == "x" * 100
    assert clean_text(None) == ""


def test_has_meaning():
    assert not has_meaning("")
    assert not has_meaning("🤔🎥🎭")
    assert has_meaning("영화 하나 추천해 줄래?")
    assert has_meaning("★★★")
    assert has_meaning("4.5")


def test_cut_spans():
    assert cut_spans("7/10 for District 9", [(0, 4)]) == "for District 9"
    assert cut_spans("abc def ghi", [(4, 7), (0, 3)]) == "ghi"


@pytest.mark.parametrize("text, title", [
    ("movies like Moon", "Moon"),
    ("more like Signs please", "Signs"),
    ("what's similar to the truman show", "the truman show"),
    ("The Princess Bride - got more like that?", "The Princess Bride"),
    ("tell me about Alien", "Alien"),
    ("films like The Man Who Knew Too Much please", "The Man Who Knew Too Much"),
])
def test_strip_request_words(text, title):
    assert strip_request_words(text) == title


def test_nlu_genre_lookup_matches_synonyms():
    # data/nlu/lookups.yml feeds DIET the same genre words the actions understand.
    import yaml

    from recengine.config import REPO_ROOT

    data = yaml.safe_load((REPO_ROOT / "data" / "nlu" / "lookups.yml").read_text())
    lookup = next(item for item in data["nlu"] if item.get("lookup") == "genre")
    words = {line[2:].strip() for line in lookup["examples"].splitlines() if line.startswith("- ")}
    assert words == set(GENRE_SYNONYMS)


def test_nlu_genre_synonyms_agree_with_parsing():
    import yaml

    from recengine.config import REPO_ROOT

    data = yaml.safe_load((REPO_ROOT / "data" / "nlu" / "charts.yml").read_text())
    for item in data["nlu"]:
        if "synonym" not in item:
            continue
        for line in item["examples"].splitlines():
            word = line[2:].strip()
            if word:
                assert item["synonym"] in normalise_genre(word), word


def test_star_symbols_spelled_out():
    from recengine.parsing import spell_out_star_symbols

    assert spell_out_star_symbols("★★★ for Grease") == "3 stars for Grease"
    assert spell_out_star_symbols("Heat ★★★½") == "Heat 3.5 stars"
    assert spell_out_star_symbols("★ Cats") == "1 star Cats"
    assert spell_out_star_symbols("Heat 4 stars") == "Heat 4 stars"
