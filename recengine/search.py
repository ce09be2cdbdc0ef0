"""Free-text title search: from what a person types to catalog movies.

Titles and queries are reduced to the same *key*: accents removed, lower case, punctuation,
``&`` and ``and`` dropped, Roman numerals II–XX written as digits, ``Part 2`` shortened to
``2``, and a leading or trailing English article dropped. "Matrix, The", "the matrix" and
"THE MATRIX!" all become ``matrix``; "Rocky II" and "rocky 2" become ``rocky 2``.

Each movie is indexed under several keys, each with a weight that becomes the match score:

| key | example | score |
|---|---|---|
| main title or an alternative title | ``run lola run``, ``lola rennt`` | 100 (99 when only an article differs) |
| the part before a colon or dash | ``star trek 2`` for "Star Trek II: The Wrath of Khan" | 95 |
| a later part | ``two towers`` for "The Lord of the Rings: The Two Towers" | 93 |

A query is tried in three stages, stopping at the first that finds something:

1. exact key lookup (a dictionary, so short titles such as "Up" or "Her" resolve exactly);
2. the query's words as a contiguous run inside a longer key ("Deathly Hallows"), scored
   70–90 by how much of the key they cover;
3. typo tolerance, first word by word (each unknown word replaced by the most common catalog
   word within its edit budget, then stages 1–2 again), then on the whole key. Both use the
   optimal-string-alignment distance (rapidfuzz's ``OSA``), which is Levenshtein with a swap
   of two neighbouring letters counted as one edit. Keys up to 4 characters allow no edits, up
   to 8 one edit, longer ones two, and the score is 88 minus 8 per edit. Only keys whose length
   is within the edit budget are compared, which keeps a 45,000-title lookup fast.

A four-digit year in the query ("heat 1995", "Scarface (1983)") that lies in the catalog's
range filters the candidates to that year when any match it. Movies sharing the top score come
back as a tie, most rated first, so the assistant can ask which one was meant.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from recengine.catalog import Catalog
from recengine.text import fold

__all__ = ["TitleMatch", "Resolution", "Mention", "TitleIndex", "title_key"]

_ROMAN = {
    "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7", "viii": "8", "ix": "9", "x": "10",
    "xi": "11", "xii": "12", "xiii": "13", "xiv": "14", "xv": "15", "xvi": "16", "xvii": "17", "xviii": "18",
    "xix": "19", "xx": "20",
}
_ENGLISH_ARTICLES = {"the", "a", "an"}
_TOKEN = re.compile(r"[0-9a-z]+")
_SEGMENT_SEPARATOR = re.compile(r"\s*:\s+|\s+[-–—]\s+")

EXACT_SCORE = 100.0
FIRST_PART_SCORE = 95.0
LATER_PART_SCORE = 93.0
ARTICLE_PENALTY = 1.0
FUZZY_BASE_SCORE = 88.0
FUZZY_EDIT_PENALTY = 8.0
TIE_TOLERANCE = 1e-6

# Words that are too common in chat to count as a one-word title inside a sentence unless the
# user capitalised them ("I watched Up" counts, "cheer me up" does not).
_CHAT_WORDS = frozenset("""
a about after again all also am an and any anything are as at be because been before best better big
but by can could did do does done down for from get gets give go good got great had has have he her
here him his how i if in into is it its just know last let like liked little love loved make me more
most movie movies my new no not now of off ok okay old on one only or other our out over please rate
rated really recommend say see seen she show similar so some something star stars still such suggest
than thanks that the their them then there these they thing think this those to too top up us very
want was watch watched way we well were what when where which who why will with would yes you your
""".split())


def _tokens(text: str) -> list[str]:
    """Return the folded words of ``text`` with numerals normalised, article handling left to the caller."""
    folded = fold(text).replace("'", "").replace("’", "")
    # "&" and "and" are both dropped, so "Marley & Me", "Marley and Me" and "Marley Me" agree.
    words = [_ROMAN.get(word, word) for word in _TOKEN.findall(folded) if word != "and"]
    # "Part 2" and "Part II" are written as plain "2" so that "Deathly Hallows 2" matches.
    return [word for position, word in enumerate(words) if not (word == "part" and position + 1 < len(words) and words[position + 1].isdigit())]


def _strip_articles(words: list[str]) -> list[str]:
    if len(words) > 1 and words[0] in _ENGLISH_ARTICLES:
        words = words[1:]
    if len(words) > 1 and words[-1] in _ENGLISH_ARTICLES:
        words = words[:-1]
    return words


def title_key(text: str) -> str:
    """Return the search key of a title or query.

    >>> title_key("The Lord of the Rings: The Two Towers")
    'lord of the rings the two towers'
    >>> title_key("Rocky II"), title_key("matrix, the"), title_key("Amélie")
    ('rocky 2', 'matrix', 'amelie')
    """
    return " ".join(_strip_articles(_tokens(text)))


@dataclass(frozen=True)
class TitleMatch:
    """One candidate movie for a query."""

    movie_id: int
    score: float
    """0–100; 100 means the query is the movie's title or an alternative title."""
    matched: str
    """The catalog title, alternative title or title part that matched."""


@dataclass(frozen=True)
class Resolution:
    """The outcome of resolving a query: ranked matches and whether the top is a tie."""

    query: str
    matches: list[TitleMatch] = field(default_factory=list)
    year: int | None = None
    """The year hint read from the query, if any."""

    @property
    def found(self) -> bool:
        return bool(self.matches)

    @property
    def tied(self) -> list[TitleMatch]:
        """Return the matches sharing the top score, most rated first."""
        if not self.matches:
            return []
        top = self.matches[0].score
        return [match for match in self.matches if top - match.score <= TIE_TOLERANCE]

    @property
    def is_ambiguous(self) -> bool:
        return len(self.tied) > 1

    @property
    def best(self) -> TitleMatch | None:
        """Return the top match; for a tie, the most rated of the tied movies."""
        return self.matches[0] if self.matches else None


@dataclass(frozen=True)
class Mention:
    """A title found inside a longer message."""

    start: int
    end: int
    """Character offsets into the original message: ``message[start:end] == text``."""
    text: str
    resolution: Resolution


@dataclass(frozen=True)
class _Entry:
    position: int
    """Row number of the movie in the catalog frame."""
    weight: float
    matched: str
    words: str
    """The key before articles were dropped, to prefer "Heat" over "The Heat" for the query "heat"."""


class TitleIndex:
    """An in-memory index of a catalog's titles for :meth:`search`, :meth:`resolve` and :meth:`find_mentions`."""

    def __init__(self, catalog: Catalog):
        movies = catalog.movies
        self._movie_ids = movies.index.to_numpy(dtype=np.int64)
        self._popularity = movies["rating_count"].to_numpy(dtype=np.int64)
        years = movies["year"]
        self._years = years.fillna(0).to_numpy(dtype=np.int64)
        known_years = years.dropna()
        self._year_range = (int(known_years.min()), int(known_years.max()) + 1) if len(known_years) else (0, 0)

        entries: dict[str, dict[int, _Entry]] = defaultdict(dict)

        def add(name: str, position: int, weight: float) -> None:
            words = _tokens(name)
            key = " ".join(_strip_articles(words))
            if not key:
                return
            current = entries[key].get(position)
            if current is None or current.weight < weight:
                entries[key][position] = _Entry(position, weight, name, " ".join(words))

        for position, (title, alternatives) in enumerate(zip(movies["title"], movies["alt_titles"])):
            for name in (title, *alternatives):
                add(name, position, EXACT_SCORE)
            parts = [part for part in _SEGMENT_SEPARATOR.split(title) if part.strip()]
            if len(parts) > 1:
                add(parts[0], position, FIRST_PART_SCORE)
                for part in parts[1:]:
                    add(part, position, LATER_PART_SCORE)

        self._keys: list[str] = list(entries)
        self._entries: list[tuple[_Entry, ...]] = [tuple(entries[key].values()) for key in self._keys]
        self._key_ids = {key: number for number, key in enumerate(self._keys)}
        by_length: dict[int, list[int]] = defaultdict(list)
        for number, key in enumerate(self._keys):
            by_length[len(key)].append(number)
        self._by_length = {length: (numbers, [self._keys[n] for n in numbers]) for length, numbers in by_length.items()}
        postings: dict[str, list[int]] = defaultdict(list)
        for number, key in enumerate(self._keys):
            for word in set(key.split()):
                postings[word].append(number)
        self._postings = {word: np.asarray(ids, dtype=np.int64) for word, ids in postings.items()}
        words_by_length: dict[int, list[str]] = defaultdict(list)
        for word in sorted(self._postings, key=lambda word: -len(self._postings[word])):
            words_by_length[len(word)].append(word)
        self._words_by_length = dict(words_by_length)

    def __len__(self) -> int:
        return len(self._movie_ids)

    # -- public interface -------------------------------------------------------------------------

    def search(self, text: str, limit: int = 5) -> list[TitleMatch]:
        """Return up to ``limit`` candidates for ``text``, best first (ties most rated first)."""
        return self.resolve(text, limit=limit).matches

    def resolve(self, text: str, limit: int = 10) -> Resolution:
        """Resolve a title mention to ranked candidates, reading a trailing year as a hint."""
        words = _tokens(text or "")
        if not words:
            return Resolution(query=text or "")
        year = self._year_hint(words)
        if year is not None:
            # The whole text may itself be a title ("Blade Runner 2049" is out of range anyway,
            # but "Godzilla 2000" is not), so an exact match on the full words wins.
            full = self._exact(words)
            if full:
                return Resolution(text, self._rank(full, limit), None)
            words = words[:-1]
        key = " ".join(_strip_articles(words))
        scored = self._exact(words) or self._contained(key) or self._corrected(words) or self._fuzzy(key)
        if year is not None and scored:
            same_year = {position: value for position, value in scored.items() if self._years[position] == year}
            scored = same_year or scored
        return Resolution(text, self._rank(scored, limit), year)

    def closest(self, text: str, limit: int = 3, min_score: float = 60.0) -> list[TitleMatch]:
        """Return the nearest titles for a mention that :meth:`resolve` could not match, to offer as suggestions.

        Uses rapidfuzz's ``WRatio`` over every key, which is loose and slower (tens of milliseconds
        on a large catalog), so it is meant for the rare miss, not for every lookup.
        """
        key = title_key(text or "")
        if not key:
            return []
        scored: dict[int, tuple[float, str]] = {}
        for _, score, number in process.extract(key, self._keys, scorer=fuzz.WRatio, score_cutoff=min_score, limit=limit * 4):
            for entry in self._entries[number]:
                value = float(score) * entry.weight / EXACT_SCORE
                if value > scored.get(entry.position, (0.0, ""))[0]:
                    scored[entry.position] = (value, entry.matched)
        return self._rank(scored, limit)

    def find_mentions(self, text: str, max_words: int = 12) -> list[Mention]:
        """Find catalog titles written exactly (after key normalisation) inside a longer message.

        Longer spans win over shorter overlapping ones. A one-word title that is an everyday chat
        word ("up", "her", "big") counts only when the user capitalised it. A year right after the
        span, as in "Scarface (1983)", is read as a hint.
        """
        if not text:
            return []
        spans = [(match.start(), match.end(), match.group()) for match in re.finditer(r"[^\s,;:!?\"()\[\]/]+", text)]
        found: list[tuple[int, int, Mention]] = []
        for first in range(len(spans)):
            for last in range(min(len(spans), first + max_words) - 1, first - 1, -1):
                start, end = spans[first][0], spans[last][1]
                fragment = text[start:end].strip(" .-–—'\"")
                if not fragment:
                    continue
                key = title_key(fragment)
                if key not in self._key_ids:
                    continue
                if first == last and key in _CHAT_WORDS and not fragment[:1].isupper():
                    continue
                query = fragment
                following = text[end:end + 8]
                year_match = re.match(r"\s*\(?\s*(\d{4})\s*\)?", following)
                if year_match:
                    query = f"{fragment} {year_match.group(1)}"
                resolution = self.resolve(query)
                if resolution.found:
                    offset = text.index(fragment, start)
                    found.append((last - first + 1, -start, Mention(offset, offset + len(fragment), fragment, resolution)))
                break  # the longest span starting here is enough
        found.sort(key=lambda item: (item[0], item[1]), reverse=True)
        chosen: list[Mention] = []
        for _, _, mention in found:
            if all(mention.end <= other.start or mention.start >= other.end for other in chosen):
                chosen.append(mention)
        return sorted(chosen, key=lambda mention: mention.start)

    # -- stages -----------------------------------------------------------------------------------

    def _year_hint(self, words: list[str]) -> int | None:
        if len(words) < 2 or not re.fullmatch(r"\d{4}", words[-1]):
            return None
        year = int(words[-1])
        low, high = self._year_range
        return year if low <= year <= high else None

    def _exact(self, words: list[str]) -> dict[int, tuple[float, str]]:
        """Score keys equal to the query; a title that differs only by an article scores one point less."""
        number = self._key_ids.get(" ".join(_strip_articles(words)))
        if number is None:
            return {}
        typed = " ".join(words)
        return {
            entry.position: (entry.weight - (0.0 if entry.words == typed else ARTICLE_PENALTY), entry.matched)
            for entry in self._entries[number]
        }

    def _contained(self, key: str) -> dict[int, tuple[float, str]]:
        """Score keys that contain the query's words as a contiguous run."""
        words = key.split()
        # One short word inside a long title is too weak a signal ("it", "war").
        if not words or (len(words) == 1 and len(words[0]) < 5):
            return {}
        postings = [self._postings.get(word) for word in words]
        if any(posting is None for posting in postings):
            return {}
        candidates = postings[0]
        for posting in postings[1:]:
            candidates = np.intersect1d(candidates, posting, assume_unique=True)
            if not len(candidates):
                return {}
        padded = f" {key} "
        scored: dict[int, tuple[float, str]] = {}
        for number in candidates[:2000]:
            candidate = self._keys[number]
            if padded not in f" {candidate} ":
                continue
            coverage = len(key) / len(candidate)
            for entry in self._entries[number]:
                score = 70.0 + 20.0 * coverage * (entry.weight / EXACT_SCORE)
                if score > scored.get(entry.position, (0.0, ""))[0]:
                    scored[entry.position] = (score, entry.matched)
        return scored

    def _corrected(self, words: list[str]) -> dict[int, tuple[float, str]]:
        """Replace each unknown word by the most common catalog word within its edit budget and look again.

        Typos are usually inside words, and the catalog has far fewer distinct words than titles,
        so this is much cheaper than comparing whole titles.
        """
        corrected, edits = [], 0
        for word in words:
            if word in self._postings or len(word) < 4 or word.isdigit():
                corrected.append(word)
                continue
            budget = 1 if len(word) <= 7 else 2
            best: tuple[int, str] | None = None
            for length in range(len(word) - budget, len(word) + budget + 1):
                candidates = self._words_by_length.get(length, ())
                hit = process.extractOne(word, candidates, scorer=OSA.distance, score_cutoff=budget)
                if hit is not None and (best is None or hit[1] < best[0]):
                    best = (int(hit[1]), hit[0])
            if best is None:
                return {}
            corrected.append(best[1])
            edits += best[0]
        if edits == 0:
            return {}
        penalty = FUZZY_EDIT_PENALTY * edits
        found = self._exact(corrected)
        if found:
            scale = (FUZZY_BASE_SCORE - penalty) / EXACT_SCORE
            return {position: (score * scale, matched) for position, (score, matched) in found.items()}
        contained = self._contained(" ".join(_strip_articles(corrected)))
        return {position: (score - penalty, matched) for position, (score, matched) in contained.items()}

    def _fuzzy(self, key: str) -> dict[int, tuple[float, str]]:
        """Score keys within 1–2 edits of the query, allowing more edits for longer queries."""
        if len(key) <= 4:
            return {}
        max_edits = 1 if len(key) <= 8 else 2
        hits = []
        for length in range(len(key) - max_edits, len(key) + max_edits + 1):
            numbers, keys = self._by_length.get(length, ((), ()))
            for candidate, distance, offset in process.extract(key, keys, scorer=OSA.distance, score_cutoff=max_edits, limit=25):
                hits.append((candidate, distance, numbers[offset]))
        scored: dict[int, tuple[float, str]] = {}
        for candidate, distance, number in hits:
            # A one-edit match on a very short key ("cup" for "up") needs the key to be long enough.
            if len(candidate) <= 4:
                continue
            for entry in self._entries[number]:
                score = (FUZZY_BASE_SCORE - FUZZY_EDIT_PENALTY * distance) * (entry.weight / EXACT_SCORE)
                if score > scored.get(entry.position, (0.0, ""))[0]:
                    scored[entry.position] = (score, entry.matched)
        return scored

    def _rank(self, scored: dict[int, tuple[float, str]], limit: int) -> list[TitleMatch]:
        order = sorted(scored, key=lambda position: (-scored[position][0], -self._popularity[position], self._movie_ids[position]))
        return [TitleMatch(int(self._movie_ids[position]), round(scored[position][0], 2), scored[position][1]) for position in order[:limit]]

