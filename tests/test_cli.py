"""The command line on the real ml-latest-small dataset, as the README shows it."""

from __future__ import annotations

import re

import pytest

from recengine.cli import main

pytestmark = pytest.mark.slow


def run(capsys, *argv: str) -> tuple[int, list[str]]:
    status = main(list(argv))
    return status, capsys.readouterr().out.splitlines()


def test_top_romance_prints_ten_ranked_movies(capsys, movielens_small):
    status, lines = run(capsys, "top", "--genre", "Romance", "--limit", "10", "--dataset", "ml-latest-small")
    assert status == 0
    ranked = [line for line in lines if re.match(r"\s*\d+\. ", line)]
    assert len(ranked) == 10
    assert "The Princess Bride (1987)" in ranked[0]
    scores = [float(line.split("WR ")[1].split()[0]) for line in ranked]
    assert scores == sorted(scores, reverse=True)
    catalog = movielens_small.catalog
    romance_titles = {movie.display_title for movie in catalog if "Romance" in movie.genres}
    for line in ranked:
        title = line.split(". ", 1)[1].split("  ")[0].strip()
        assert title in romance_titles


def test_search_typo_puts_the_matrix_first(capsys):
    status, lines = run(capsys, "search", "the matrx", "--dataset", "ml-latest-small")
    assert status == 0
    assert "The Matrix (1999)" in lines[0]


def test_search_hamlet_shows_the_tie(capsys):
    status, lines = run(capsys, "search", "hamlet", "--dataset", "ml-latest-small")
    assert status == 0
    tied = [line for line in lines if " = " in line]
    assert len(tied) == 5
    assert "Hamlet (1996)" in tied[0]
    assert "share the top score" in lines[-1]


def test_unknown_genre_is_explained(capsys):
    status, lines = run(capsys, "top", "--genre", "Westerns", "--dataset", "ml-latest-small")
    assert status == 2
    assert "Unknown genre 'Westerns'" in lines[0] and "Western" in lines[0]


def test_bad_dataset_is_a_clear_error(capsys):
    assert main(["info", "ml-999"]) == 2
    assert "Unknown dataset 'ml-999'" in capsys.readouterr().err
