"""Search for directors and actors by name, including a surname alone and typos.

Names come from the catalog's ``director`` and ``cast`` columns. A query matches a full name
(score 100) or a surname shared by one or more people (score 90, people with more rated movies
first). Failing both, it matches full names within one edit, or two for queries of 8 characters
or more (score 85 minus 8 per edit).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from recengine.catalog import Catalog
from recengine.text import words

__all__ = ["PersonMatch", "PersonMention", "PeopleIndex", "person_key"]

FULL_NAME_SCORE = 100.0
SURNAME_SCORE = 90.0


def person_key(name: str) -> str:
    """Return the search key of a name: folded words, so "M. Night Shyamalan" is ``m night shyamalan``."""
    return " ".join(words(name))


@dataclass(frozen=True)
class PersonMatch:
    """A person and the catalog movies they directed or led."""

    name: str
    score: float
    directed: tuple[int, ...]
    """Ids of movies this person directed, most rated first."""
    acted: tuple[int, ...]
    """Ids of movies where this person is one of the first three credited actors, most rated first."""

    @property
    def movie_ids(self) -> tuple[int, ...]:
        """Return directed then acted movies without repeats."""
        return tuple(dict.fromkeys(self.directed + self.acted))

    @property
    def main_role(self) -> str:
        """Return "director" when the person directed more of the catalog than they acted in, else "actor"."""
        return "director" if len(self.directed) >= len(self.acted) and self.directed else "actor"


@dataclass(frozen=True)
class PersonMention:
    """A person's name found inside a message."""

    start: int
    end: int
    text: str
    matches: tuple[PersonMatch, ...]


class PeopleIndex:
    """Directors and leading actors of a catalog, searchable by name."""

    def __init__(self, catalog: Catalog):
        movies = catalog.movies
        popularity = dict(zip(movies.index, movies["rating_count"]))
        directed: dict[str, list[int]] = defaultdict(list)
        acted: dict[str, list[int]] = defaultdict(list)
        for movie_id, director, cast in zip(movies.index, movies["director"], movies["cast"]):
            if isinstance(director, str) and director.strip():
                directed[director.strip()].append(int(movie_id))
            for actor in cast:
                acted[actor].append(int(movie_id))

        def by_popularity(ids: list[int]) -> tuple[int, ...]:
            return tuple(sorted(set(ids), key=lambda movie_id: (-popularity[movie_id], movie_id)))

        self._people: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self._by_key: dict[str, list[str]] = defaultdict(list)
        self._by_surname: dict[str, list[str]] = defaultdict(list)
        for name in sorted(set(directed) | set(acted)):
            self._people[name] = (by_popularity(directed.get(name, [])), by_popularity(acted.get(name, [])))
            key = person_key(name)
            if not key:
                continue
            self._by_key[key].append(name)
            parts = key.split()
            if len(parts) > 1:
                self._by_surname[parts[-1]].append(name)
        self._weight = {
            name: sum(popularity[movie_id] for movie_id in set(directed_ids + acted_ids))
            for name, (directed_ids, acted_ids) in self._people.items()
        }
        self._keys = list(self._by_key)
        title_words = {word for title in movies["title"] for word in words(title)}
        # A lower-case single word inside a sentence counts as a surname only when it is not an
        # ordinary word, judged by whether any catalog title uses it ("stone", "park", "bell" do).
        self._ordinary_words = title_words

    def __len__(self) -> int:
        return len(self._people)

    def _match(self, name: str, score: float) -> PersonMatch:
        directed_ids, acted_ids = self._people[name]
        return PersonMatch(name=name, score=score, directed=directed_ids, acted=acted_ids)

    def find(self, text: str, limit: int = 5) -> list[PersonMatch]:
        """Return people matching ``text``, best first; people with more rated movies win ties."""
        key = person_key(text or "")
        if not key:
            return []
        scored: dict[str, float] = {}
        for name in self._by_key.get(key, ()):
            scored[name] = FULL_NAME_SCORE
        if not scored and " " not in key:
            for name in self._by_surname.get(key, ()):
                scored[name] = SURNAME_SCORE
        if not scored and len(key) >= 6:
            max_edits = 1 if len(key) < 8 else 2
            for candidate, distance, _ in process.extract(key, self._keys, scorer=Levenshtein.distance, score_cutoff=max_edits, limit=10):
                for name in self._by_key[candidate]:
                    scored[name] = max(scored.get(name, 0.0), 85.0 - 8.0 * distance)
        ranked = sorted(scored, key=lambda name: (-scored[name], -self._weight[name], name))
        return [self._match(name, scored[name]) for name in ranked[:limit]]

    def find_mentions(self, text: str, max_words: int = 4) -> list[PersonMention]:
        """Find people named inside a message ("anything with adam sandler in it", "by Aronofsky?").

        Full names match in any case. A single word matches a surname when capitalised, or when it
        is not an ordinary word used in movie titles.
        """
        if not text:
            return []
        spans = [(match.start(), match.end()) for match in re.finditer(r"[^\s,;:!?\"()]+", text)]
        mentions: list[PersonMention] = []
        first = 0
        while first < len(spans):
            found = None
            for last in range(min(len(spans), first + max_words) - 1, first - 1, -1):
                start, end = spans[first][0], spans[last][1]
                fragment = text[start:end]
                if fragment.endswith(("'s", "’s")):  # possessive: "Spielberg's films"
                    fragment = fragment[:-2]
                fragment = fragment.rstrip(" .-–—'’")
                key = person_key(fragment)
                if not key:
                    continue
                if first == last:
                    if key not in self._by_surname or len(key) < 3:
                        continue
                    if not fragment[:1].isupper() and key in self._ordinary_words:
                        continue
                elif key not in self._by_key:
                    continue
                matches = self.find(fragment)
                if matches:
                    found = PersonMention(start, start + len(fragment), fragment, tuple(matches))
                    first = last + 1
                    break
            if found is None:
                first += 1
            else:
                mentions.append(found)
        return mentions

