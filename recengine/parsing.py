"""Read scores, genres, years and clean text out of what a user typed, without Rasa.

The assistant's NLU finds the intent and the rough span of a title; this module turns the
rest of the message into values the engine understands:

- scores in every everyday form: ``4.5``, ``4 out of 5``, ``7/10`` (halved to 3.5),
  ``two and a half stars``, ``★★★``, ``five stars``, and sentiment words (``loved`` is 5,
  ``enjoyed`` 4, ``meh`` 3, ``wasn't a fan`` 2, ``dreadful`` 1). An explicit score wins over a
  sentiment word; a score outside 0.5–5 (``0 stars``, ``12/10``, ``infinity stars``) is found
  and flagged as out of range so the caller can reject it.
- genres through synonyms (``scifi``, ``romcom``, ``kids`` → Children, ``whodunit`` → Mystery,
  ``cowboy`` → Western, ``noir`` → Film-Noir, ``scary`` → Horror, ``cartoons`` → Animation);
- decades and years (``90s``, ``the seventies``, ``2010s``, ``pre-1960``, ``released in 1994``);
- the list length asked for (``top 5``).

Every finder reports the character span it read, so callers can cut scores and genre words
out of a message before looking for a title in what is left, or skip words that belong to a
title ("Good Will Hunting" is not a sentiment).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Sequence

__all__ = [
    "Score", "GenreMention", "YearRange", "MIN_SCORE", "MAX_SCORE",
    "GENRE_SYNONYMS", "MOVIELENS_GENRES",
    "clean_text", "spell_out_star_symbols", "has_meaning", "find_scores", "find_sentiment", "choose_score",
    "pick_explicit_score",
    "find_genres", "normalise_genre", "parse_years", "parse_count", "round_to_half", "cut_spans",
    "strip_request_words", "format_stars",
]

MIN_SCORE = 0.5
MAX_SCORE = 5.0

Span = tuple[int, int]


# --------------------------------------------------------------------------- cleaning


_CONTROL_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}


def clean_text(text: object, max_length: int = 1000) -> str:
    """Return ``text`` with control characters removed, every kind of space made one space, trimmed.

    NUL bytes, zero-width characters and tabs disappear; ideographic and non-breaking spaces
    become plain spaces. Text longer than ``max_length`` characters is cut there, because no
    request the assistant understands needs more.
    """
    if text is None:
        return ""
    characters = []
    for char in str(text)[: max_length * 2]:
        if char.isspace():
            characters.append(" ")
        elif unicodedata.category(char) in _CONTROL_CATEGORIES:
            continue
        else:
            characters.append(char)
    return " ".join("".join(characters).split())[:max_length].strip()


def spell_out_star_symbols(text: str) -> str:
    """Return ``text`` with runs of star symbols written as words: "★★★½ for Grease" → "3.5 stars for Grease".

    Tokenizers that split on non-word characters drop the symbols, so the NLU would never see
    the score; written out, it reads like any other rating.
    """

    def spell(match: re.Match) -> str:
        given = match.group(0)
        count = sum(1 for char in given if char in _STAR_SYMBOLS or char == "*")
        value = count + (0.5 if given.rstrip().endswith("½") else 0.0)
        trailing = " " if given[-1:].isspace() else ""
        return f"{value:g} {'star' if value == 1 else 'stars'}{trailing}"

    return _SYMBOLS_RE.sub(spell, text)


def has_meaning(text: str) -> bool:
    """Return True when ``text`` contains at least one letter, digit or star symbol."""
    return any(char.isalnum() or char in _STAR_SYMBOLS for char in text)


def cut_spans(text: str, spans: Iterable[Span]) -> str:
    """Return ``text`` with the given character spans replaced by a space, spaces collapsed."""
    pieces, position = [], 0
    for start, end in sorted(spans):
        if start < position:
            start = position
        if start >= end:
            continue
        pieces.append(text[position:start])
        pieces.append(" ")
        position = end
    pieces.append(text[position:])
    return " ".join("".join(pieces).split())


def _overlaps(span: Span, others: Iterable[Span]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in others)


# --------------------------------------------------------------------------- scores


@dataclass(frozen=True)
class Score:
    """A score found in a message.

    ``value`` is on the 0.5–5 star scale, rounded to the nearest half star; it is None when the
    score is out of range. ``kind`` tells how it was written: ``fraction`` (7/10, 4 out of 5),
    ``stars`` (4.5 stars, two and a half stars), ``symbols`` (★★★), ``number`` (a bare 4.5) or
    ``sentiment`` (loved, meh).
    """

    value: float | None
    given: str
    """The text as the user typed it, for replies such as "7/10 is 3.5 stars"."""
    kind: str
    start: int
    end: int
    out_of_range: bool = False
    exact: bool = True
    """False when rounding to a half star changed the value (8.5/10 is 4.25, stored as 4.5)."""

    @property
    def span(self) -> Span:
        return (self.start, self.end)

    @property
    def explicit(self) -> bool:
        """Return True for a number or symbols the user wrote, False for a sentiment word."""
        return self.kind != "sentiment"

    @property
    def bare(self) -> bool:
        """Return True for a plain number without a unit, which may instead belong to a title."""
        return self.kind == "number"


def round_to_half(value: float) -> float:
    """Round to the nearest half star, halves going up: 4.25 becomes 4.5, 3.7 becomes 3.5."""
    return math.floor(value * 2 + 0.5) / 2


def format_stars(value: float) -> str:
    """Write a score for the user: ``4 stars``, ``4.5 stars``, ``1 star``, ``0.5 stars``."""
    number = f"{value:g}"
    return f"{number} star" if value == 1 else f"{number} stars"


_WORD_NUMBERS = {
    "zero": 0, "no": 0, "none": 0, "nil": 0, "a": 1, "an": 1, "one": 1, "single": 1, "two": 2, "three": 3,
    "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "twenty": 20, "hundred": 100, "a hundred": 100, "one hundred": 100, "thousand": 1000, "a thousand": 1000,
    "million": 1e6, "a million": 1e6, "billion": 1e9, "a billion": 1e9, "gazillion": 1e12, "a gazillion": 1e12,
    "bazillion": 1e12, "a bazillion": 1e12,
}
_INFINITE_WORDS = ("infinity", "infinite", "endless", "unlimited", "countless", "∞")

_NUMBER_WORD = (
    r"(?:a\s+(?:hundred|thousand|million|billion|gazillion|bazillion)|one\s+hundred|zero|no|none|nil|an?|one|single|"
    r"two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|hundred|thousand|million|billion|"
    r"gazillion|bazillion)"
)
_DIGITS = r"[-−]?\d+(?:[.,]\d+)?"
# A number as digits, words or "infinity", optionally followed by "and a half" or "½".
_AMOUNT = (
    rf"(?P<amount>(?P<digits>{_DIGITS})(?P<dhalf>\s*½|\s+1/2|\s+and\s+a\s+half)?"
    rf"|(?P<word>{_NUMBER_WORD})(?P<whalf>\s+and\s+a\s+half|\s*½)?"
    r"|(?P<half>half\s+a|a\s+half|half(?:\s+of\s+a)?)"
    r"|(?P<infinite>infinity|infinite|endless|unlimited|countless|∞)"
    r"|(?P<glyph>½))"
)
_STARS_RE = re.compile(
    rf"(?<![\w.]){_AMOUNT}\s*(?:-\s*)?(?:gold\s+)?(?:stars?|⭐️?|\*)(?!\w)",
    re.IGNORECASE,
)
_FRACTION_RE = re.compile(
    rf"(?<![\w./])(?P<num>{_DIGITS}|{_NUMBER_WORD}|infinity)\s*(?:/|out\s+of|outta|of)\s*(?P<den>\d+|five|ten|a\s+hundred|hundred)(?![\w/]|\.\d)",
    re.IGNORECASE,
)
_STAR_SYMBOLS = "★⭐✪✭✮✯✰🌟"
_SYMBOLS_RE = re.compile(r"(?:[★⭐✪✭✮✯✰🌟]\ufe0f?\s*){1,}(?:½)?|(?<![\w*])\*{2,5}(?![\w*])")
_BARE_RE = re.compile(r"(?<![\w.,/'’])(?P<digits>[-−]?\d+(?:[.,]\d+)?)(?P<half>½)?(?![\w/%'’]|[.,]\d|\s*/)")
_DENOMINATORS = {"five": 5, "ten": 10, "hundred": 100, "a hundred": 100}


def _number(text: str) -> float:
    return float(text.replace("−", "-").replace(",", "."))


def _amount_value(match: re.Match) -> float:
    """Return the number a :data:`_AMOUNT` match stands for; infinity for "infinity stars"."""
    if match.group("infinite"):
        return math.inf
    if match.group("glyph") or match.group("half"):
        return 0.5
    if match.group("digits"):
        base = _number(match.group("digits"))
        return base + (0.5 if match.group("dhalf") else 0.0)
    word = " ".join(match.group("word").lower().split())
    return _WORD_NUMBERS[word] + (0.5 if match.group("whalf") else 0.0)


def _make_score(value: float, given: str, kind: str, start: int, end: int) -> Score:
    if math.isnan(value) or value < MIN_SCORE or value > MAX_SCORE:
        return Score(None, given, kind, start, end, out_of_range=True)
    rounded = round_to_half(value)
    return Score(rounded, given, kind, start, end, exact=rounded == value)


def _fraction_scores(text: str) -> list[Score]:
    scores = []
    for match in _FRACTION_RE.finditer(text):
        raw_num = " ".join(match.group("num").lower().split())
        raw_den = " ".join(match.group("den").lower().split())
        if raw_num in ("infinity",):
            numerator = math.inf
        elif raw_num in _WORD_NUMBERS:
            numerator = float(_WORD_NUMBERS[raw_num])
        else:
            numerator = _number(raw_num)
        denominator = float(_DENOMINATORS.get(raw_den, 0) or (int(raw_den) if raw_den.isdigit() else 0))
        # Only the usual rating scales count, so "24/7" or "9/11" in a title is not a score.
        if denominator not in (4, 5, 10, 20, 100):
            continue
        # "of" alone is too common ("one of the best"): accept it only with digits on both sides.
        joiner = match.group(0).lower()
        if " of " in f" {joiner} " and "out" not in joiner and not raw_num[:1].isdigit():
            continue
        value = numerator / denominator * MAX_SCORE
        scores.append(_make_score(value, match.group(0).strip(), "fraction", match.start(), match.end()))
    return scores


def _star_scores(text: str, taken: list[Span]) -> list[Score]:
    scores = []
    for match in _STARS_RE.finditer(text):
        span = (match.start(), match.end())
        if _overlaps(span, taken):
            continue
        # "a star" in "a star is born" is not a score: a word amount needs "star" at the end of the phrase.
        if match.group("word") and match.group("word").lower() in ("a", "an") and re.match(r"\s+is\b", text[match.end():]):
            continue
        scores.append(_make_score(_amount_value(match), match.group(0).strip(), "stars", *span))
    return scores


def _symbol_scores(text: str, taken: list[Span]) -> list[Score]:
    scores = []
    for match in _SYMBOLS_RE.finditer(text):
        span = (match.start(), match.end())
        if _overlaps(span, taken):
            continue
        given = match.group(0).strip()
        count = sum(1 for char in given if char in _STAR_SYMBOLS or char == "*")
        value = count + (0.5 if given.endswith("½") else 0.0)
        scores.append(_make_score(float(value), given, "symbols", *span))
    return scores


def _bare_scores(text: str, taken: list[Span]) -> list[Score]:
    scores = []
    for match in _BARE_RE.finditer(text):
        span = (match.start(), match.end())
        if _overlaps(span, taken):
            continue
        digits = match.group("digits")
        value = _number(digits) + (0.5 if match.group("half") else 0.0)
        # Four-digit numbers are years ("Scarface 1983"), and decades ("90s") never reach here.
        if re.fullmatch(r"(18|19|20)\d\d", digits):
            continue
        scores.append(_make_score(value, match.group(0), "number", *span))
    return scores


def _infinite_words(text: str, taken: list[Span]) -> list[Score]:
    scores = []
    pattern = r"(?<!\w)(?:" + "|".join(re.escape(word) for word in _INFINITE_WORDS) + r")(?!\w)"
    for match in re.finditer(pattern, text, re.IGNORECASE):
        span = (match.start(), match.end())
        if not _overlaps(span, taken):
            scores.append(Score(None, match.group(0), "stars", *span, out_of_range=True))
    return scores


def find_scores(text: str, ignore: Sequence[Span] = ()) -> list[Score]:
    """Return every explicit score written in ``text``, in reading order.

    Fractions and "N stars" come first in precedence and claim their characters, so the 5 in
    "4 out of 5" is not also read as a bare number. Spans in ``ignore`` (a title the caller has
    already found, such as "District 9") are skipped. Sentiment words are not included: see
    :func:`find_sentiment`.
    """
    taken: list[Span] = list(ignore)
    found: list[Score] = []
    for finder in (_fraction_scores,):
        for score in finder(text):
            if not _overlaps(score.span, taken):
                found.append(score)
                taken.append(score.span)
    for finder in (_star_scores, _symbol_scores, _infinite_words, _bare_scores):
        for score in finder(text, taken):
            found.append(score)
            taken.append(score.span)
    return sorted(found, key=lambda score: score.start)


# Sentiment phrases and the score each stands for. A negated phrase ("didn't like") is longer
# than the word inside it, so it wins in find_sentiment. Scores follow the ranges the assistant promises:
# loved/adored 4.5–5, liked/enjoyed 3.5–4.5, okay/meh 2.5–3.5, disliked 1–2.5, hated 0.5–1.5.
_SENTIMENTS: tuple[tuple[float, tuple[str, ...]], ...] = (
    (3.5, (r"didn'?t love", r"did not love", r"wasn'?t amazing", r"not amazing")),
    (3.0, (r"not bad", r"wasn'?t bad", r"not terrible", r"wasn'?t terrible", r"not awful", r"not the worst",
           r"mixed feelings", r"so[- ]so", r"meh+", r"ok(?:ay)?", r"okey", r"alright", r"all right", r"fine", r"decent",
           r"average", r"mediocre", r"passable", r"forgettable", r"middling", r"watchable", r"nothing special")),
    (2.0, (r"didn'?t (?:really )?(?:like|enjoy|care for)", r"did not (?:like|enjoy|care for)", r"don'?t like",
           r"do not like", r"wasn'?t (?:a|much of a|the biggest) fan", r"was not a fan", r"not a fan", r"no fan",
           r"wasn'?t (?:great|good|into it|for me)", r"not (?:great|good|for me)", r"disliked", r"dislike",
           r"boring", r"bored", r"disappointing", r"disappointed", r"a letdown", r"let me down", r"weak", r"dull",
           r"bad", r"poor", r"overrated", r"underwhelming", r"silly", r"tedious", r"lame")),
    (1.0, (r"hated", r"hate", r"loathed", r"despised", r"detested", r"dreadful", r"awful", r"terrible", r"horrible",
           r"horrendous", r"the worst", r"worst", r"garbage", r"rubbish", r"trash", r"atrocious", r"abysmal",
           r"crap", r"crappy", r"unwatchable", r"painful", r"a disaster", r"a waste of time", r"waste of time",
           r"sucked", r"sucks", r"stank", r"stinks", r"pathetic", r"appalling")),
    (5.0, (r"(?:absolutely |really |totally )?loved", r"(?:absolutely |really |totally )?adored", r"i love",
           r"love(?:d)? it", r"adore", r"a masterpiece", r"masterpiece", r"my (?:all[- ]time )?fav(?:ou?rite)?",
           r"(?:all[- ]time|absolute) fav(?:ou?rite)?", r"perfect", r"flawless", r"best (?:movie|film) ever",
           r"one of the best", r"a classic")),
    (4.5, (r"really (?:liked|enjoyed)", r"amazing", r"fantastic", r"excellent", r"brilliant", r"great", r"awesome",
           r"superb", r"wonderful", r"outstanding", r"incredible", r"phenomenal", r"stunning", r"terrific",
           r"fabulous", r"magnificent", r"gripping", r"marvell?ous")),
    (4.0, (r"liked", r"i like", r"enjoyed", r"i enjoy", r"pretty good", r"quite good", r"good", r"fun", r"nice",
           r"lovely", r"solid", r"entertaining", r"cool", r"charming", r"sweet", r"funny", r"neat", r"recommend(?:able)?",
           r"worth (?:it|watching|a watch)")),
)
_SENTIMENT_RE = [
    (score, re.compile(r"(?<![\w'])(?:" + "|".join(patterns) + r")(?![\w'])", re.IGNORECASE))
    for score, patterns in _SENTIMENTS
]


def find_sentiment(text: str, ignore: Sequence[Span] = ()) -> Score | None:
    """Return the score a sentiment phrase in ``text`` stands for, or None.

    The phrase the user wrote is in ``given`` so the reply can say "you loved it, so I stored 5
    stars". A longer phrase wins over a word inside it ("didn't like" is 2, not 4; "not bad" is
    3, not 2); among separate phrases the first in the message counts. Spans in ``ignore`` (a
    title such as "Good Will Hunting") are skipped.
    """
    matches: list[Score] = []
    for value, pattern in _SENTIMENT_RE:
        for match in pattern.finditer(text):
            span = (match.start(), match.end())
            if not _overlaps(span, ignore):
                matches.append(Score(value, match.group(0), "sentiment", *span))
    kept: list[Score] = []
    for score in sorted(matches, key=lambda item: (item.start - item.end, item.start)):
        if not _overlaps(score.span, [other.span for other in kept]):
            kept.append(score)
    return min(kept, key=lambda item: item.start) if kept else None


def choose_score(text: str, ignore: Sequence[Span] = ()) -> Score | None:
    """Return the score that ``text`` gives, or None.

    Explicit scores beat sentiment words ("lovely, 4 stars from me" is 4). Among explicit scores
    a unit-bearing one (fraction, stars, symbols) beats a bare number, and among bare numbers
    the last one wins ("Men in Black 4.5"). A bare number that is not a valid score (the 60 of
    "Gone in 60 Seconds") is skipped unless it is the only number and ends the message.
    """
    explicit = pick_explicit_score(text, find_scores(text, ignore))
    return explicit if explicit is not None else find_sentiment(text, ignore)


def pick_explicit_score(text: str, scores: Sequence[Score]) -> Score | None:
    """Pick the explicit score ``text`` gives among ``scores`` (from :func:`find_scores`), or None.

    The precedence of :func:`choose_score`, without its fallback to sentiment words.
    """
    with_unit = [score for score in scores if not score.bare]
    if with_unit:
        return with_unit[0]
    bare = [score for score in scores if score.bare]
    valid = [score for score in bare if not score.out_of_range]
    if valid:
        return valid[-1]
    trailing = [score for score in bare if not text[score.end:].strip(" .!?")]
    return trailing[-1] if trailing else None


# --------------------------------------------------------------------------- genres


MOVIELENS_GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)

# Everyday words for each genre. A word that means two genres ("romcom") maps to both.
GENRE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "action": ("Action",), "action-packed": ("Action",), "action packed": ("Action",), "martial arts": ("Action",),
    "adventure": ("Adventure",), "adventures": ("Adventure",), "adventurous": ("Adventure",),
    "animation": ("Animation",), "animated": ("Animation",), "cartoon": ("Animation",), "cartoons": ("Animation",),
    "anime": ("Animation",),
    "children": ("Children",), "children's": ("Children",), "childrens": ("Children",), "kids": ("Children",),
    "kid": ("Children",), "kids'": ("Children",), "family": ("Children",), "families": ("Children",),
    "family-friendly": ("Children",), "family friendly": ("Children",),
    "comedy": ("Comedy",), "comedies": ("Comedy",), "comedic": ("Comedy",), "funny": ("Comedy",),
    "funniest": ("Comedy",), "hilarious": ("Comedy",), "humor": ("Comedy",), "humour": ("Comedy",),
    "laugh": ("Comedy",), "laughs": ("Comedy",),
    "crime": ("Crime",), "gangster": ("Crime",), "gangsters": ("Crime",), "mafia": ("Crime",), "mob": ("Crime",),
    "heist": ("Crime",), "heists": ("Crime",),
    "documentary": ("Documentary",), "documentaries": ("Documentary",), "docs": ("Documentary",),
    "docos": ("Documentary",),
    "drama": ("Drama",), "dramas": ("Drama",), "dramatic": ("Drama",),
    "fantasy": ("Fantasy",), "fantasies": ("Fantasy",), "magical": ("Fantasy",),
    "noir": ("Film-Noir",), "film noir": ("Film-Noir",), "film-noir": ("Film-Noir",), "noirs": ("Film-Noir",),
    "horror": ("Horror",), "horrors": ("Horror",), "scary": ("Horror",), "scariest": ("Horror",),
    "frightening": ("Horror",), "slasher": ("Horror",), "slashers": ("Horror",), "spooky": ("Horror",),
    "creepy": ("Horror",), "terrifying": ("Horror",),
    "imax": ("IMAX",),
    "musical": ("Musical",), "musicals": ("Musical",),
    "mystery": ("Mystery",), "mysteries": ("Mystery",), "whodunit": ("Mystery",), "whodunits": ("Mystery",),
    "whodunnit": ("Mystery",), "whodunnits": ("Mystery",), "detective": ("Mystery",), "detectives": ("Mystery",),
    "romance": ("Romance",), "romances": ("Romance",), "romantic": ("Romance",), "love story": ("Romance",),
    "love stories": ("Romance",),
    "romcom": ("Romance", "Comedy"), "romcoms": ("Romance", "Comedy"), "rom-com": ("Romance", "Comedy"),
    "rom-coms": ("Romance", "Comedy"), "rom com": ("Romance", "Comedy"), "rom coms": ("Romance", "Comedy"),
    "romantic comedy": ("Romance", "Comedy"), "romantic comedies": ("Romance", "Comedy"),
    "sci-fi": ("Sci-Fi",), "scifi": ("Sci-Fi",), "sci fi": ("Sci-Fi",), "science fiction": ("Sci-Fi",),
    "science-fiction": ("Sci-Fi",), "sf": ("Sci-Fi",),
    "thriller": ("Thriller",), "thrillers": ("Thriller",), "suspense": ("Thriller",), "suspenseful": ("Thriller",),
    "war": ("War",), "wartime": ("War",),
    "western": ("Western",), "westerns": ("Western",), "cowboy": ("Western",), "cowboys": ("Western",),
    "spaghetti western": ("Western",), "spaghetti westerns": ("Western",),
}
# Genre names themselves, in any case, also count.
for _genre in MOVIELENS_GENRES:
    GENRE_SYNONYMS.setdefault(_genre.lower(), (_genre,))
del _genre

_GENRE_RE = re.compile(
    r"(?<![\w-])(?:" + "|".join(
        re.escape(word).replace(r"\ ", r"[\s-]+").replace(r"\-", r"[\s-]?")
        for word in sorted(GENRE_SYNONYMS, key=len, reverse=True)
    ) + r")(?![\w-])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class GenreMention:
    """Genre words found in a message and the MovieLens genres they stand for."""

    genres: tuple[str, ...]
    given: str
    start: int
    end: int

    @property
    def span(self) -> Span:
        return (self.start, self.end)


def _synonym_key(word: str) -> str:
    return re.sub(r"[\s-]+", " ", word.lower()).strip()


_SYNONYM_KEYS = {_synonym_key(word): genres for word, genres in GENRE_SYNONYMS.items()}


def find_genres(text: str, ignore: Sequence[Span] = ()) -> list[GenreMention]:
    """Return the genre words in ``text`` in reading order, each mapped to MovieLens genres."""
    mentions = []
    for match in _GENRE_RE.finditer(text):
        span = (match.start(), match.end())
        if _overlaps(span, ignore):
            continue
        genres = _SYNONYM_KEYS.get(_synonym_key(match.group(0)))
        if genres is None:
            genres = _SYNONYM_KEYS.get(_synonym_key(match.group(0)).replace(" ", "-"), ())
        if genres:
            mentions.append(GenreMention(genres, match.group(0), *span))
    return mentions


def normalise_genre(word: str) -> tuple[str, ...]:
    """Return the MovieLens genres an entity value or synonym stands for (empty when unknown)."""
    key = _synonym_key(word)
    if key in _SYNONYM_KEYS:
        return _SYNONYM_KEYS[key]
    for genre in MOVIELENS_GENRES:
        if genre.lower() == key or genre.lower().replace("-", " ") == key:
            return (genre,)
    return ()



# --------------------------------------------------------------------------- years


@dataclass(frozen=True)
class YearRange:
    """A release-year filter; either end may be open (None)."""

    year_from: int | None
    year_to: int | None
    given: str
    start: int
    end: int

    @property
    def span(self) -> Span:
        return (self.start, self.end)

    def describe(self) -> str:
        """Describe the range for a reply: "of the 1990s", "from 1994", "before 1960", "since 2010"."""
        low, high = self.year_from, self.year_to
        if low is not None and high is not None:
            if low == high:
                return f"from {low}"
            if low % 10 == 0 and high == low + 9:
                return f"of the {low}s"
            return f"from {low} to {high}"
        if high is not None:
            return f"before {high + 1}"
        if low is not None:
            return f"since {low}"
        return ""


_DECADE_WORDS = {
    "twenties": 1920, "thirties": 1930, "forties": 1940, "fifties": 1950, "sixties": 1960, "seventies": 1970,
    "eighties": 1980, "nineties": 1990, "noughties": 2000, "aughts": 2000, "two thousands": 2000,
    "twenty tens": 2010, "tens": 2010,
}
_PART = r"(?:(?P<part>early|mid|late)[- ]?)?"
_DECADE_4 = re.compile(rf"(?<![\w'’]){_PART}(?:the\s+)?(?P<decade>1[89]\d0|20[0-2]0)\s?['’]?s(?!\w)", re.IGNORECASE)
_DECADE_2 = re.compile(rf"(?<![\w]){_PART}(?:the\s+)?['’]?(?P<decade>[0-9]0)\s?['’]?s(?!\w)", re.IGNORECASE)
_DECADE_WORD = re.compile(
    rf"(?<!\w){_PART}(?:the\s+)?(?P<word>" + "|".join(sorted(_DECADE_WORDS, key=len, reverse=True)) + r")(?!\w)",
    re.IGNORECASE,
)
_YEAR = r"(?:18[89]\d|19\d\d|20[0-2]\d)"
_RANGE = re.compile(
    rf"(?<!\d)(?:between\s+|from\s+)?(?P<low>{_YEAR})s?\s*(?:-|–|to|and|until|through|till)\s*(?P<high>{_YEAR})s?(?!\d)",
    re.IGNORECASE,
)
_BEFORE = re.compile(
    rf"(?<!\w)(?:pre|before|earlier than|older than|prior to|up to|until)[\s-]*(?:the\s+)?(?P<year>{_YEAR}|'?\d0)(?P<s>['’]?s)?(?!\d)",
    re.IGNORECASE,
)
_AFTER = re.compile(
    rf"(?<!\w)(?:post|after|later than|newer than)[\s-]*(?:the\s+)?(?P<year>{_YEAR}|'?\d0)(?P<s>['’]?s)?(?!\d)",
    re.IGNORECASE,
)
_SINCE = re.compile(rf"(?<!\w)since\s+(?:the\s+)?(?P<year>{_YEAR}|'?\d0)(?P<s>['’]?s)?(?!\d)", re.IGNORECASE)
_SINGLE = re.compile(rf"(?<![\w(])(?P<year>{_YEAR})(?![\w)]|['’]s)", re.IGNORECASE)


def _two_digit_decade(digits: str) -> int:
    value = int(digits.strip("'’"))
    # The catalogs end before the 2020s, so "20s" means the 1920s; "00s" and "10s" are this century.
    return 2000 + value if value in (0, 10) else 1900 + value


def _decade_bounds(start: int, part: str | None) -> tuple[int, int]:
    part = (part or "").lower()
    if part == "early":
        return start, start + 3
    if part == "mid":
        return start + 3, start + 6
    if part == "late":
        return start + 6, start + 9
    return start, start + 9


def _year_or_decade(text: str, decade_suffix: str | None) -> tuple[int, bool]:
    text = text.strip("'’")
    if len(text) == 2:
        return _two_digit_decade(text), True
    return int(text), bool(decade_suffix)


def parse_years(text: str, ignore: Sequence[Span] = ()) -> YearRange | None:
    """Return the release-year filter written in ``text``, or None.

    Recognised: ranges ("1990-1995", "between 1990 and 1995"), open ends ("pre-1960",
    "before the 80s", "after 2000", "since 2010"), decades as digits or words with an optional
    early/mid/late ("90s", "'90s", "1990s", "the seventies", "late 80s"), and single years
    ("released in 1994"). A year in brackets after a title ("Scarface (1983)") is not a filter.
    """
    for pattern, kind in ((_RANGE, "range"), (_BEFORE, "before"), (_AFTER, "after"), (_SINCE, "since")):
        for match in pattern.finditer(text):
            span = (match.start(), match.end())
            if _overlaps(span, ignore):
                continue
            given = match.group(0).strip()
            if kind == "range":
                low, high = int(match.group("low")), int(match.group("high"))
                if low > high:
                    low, high = high, low
                if match.group(0).rstrip().endswith("s"):
                    high = high + 9 if high % 10 == 0 else high
                return YearRange(low, high, given, *span)
            year, is_decade = _year_or_decade(match.group("year"), match.group("s"))
            if kind == "before":
                return YearRange(None, year - 1, given, *span)
            if kind == "after":
                return YearRange((year + 10) if is_decade else year + 1, None, given, *span)
            return YearRange(year, None, given, *span)
    for pattern in (_DECADE_4, _DECADE_2):
        for match in pattern.finditer(text):
            span = (match.start(), match.end())
            if _overlaps(span, ignore):
                continue
            digits = match.group("decade")
            start = int(digits) if len(digits) == 4 else _two_digit_decade(digits)
            return YearRange(*_decade_bounds(start, match.group("part")), match.group(0).strip(), *span)
    for match in _DECADE_WORD.finditer(text):
        span = (match.start(), match.end())
        if _overlaps(span, ignore):
            continue
        word = " ".join(match.group("word").lower().split())
        # "tens" alone is too common a word; accept it only as "the tens".
        if word == "tens" and "the" not in match.group(0).lower():
            continue
        return YearRange(*_decade_bounds(_DECADE_WORDS[word], match.group("part")), match.group(0).strip(), *span)
    for match in _SINGLE.finditer(text):
        span = (match.start(), match.end())
        if _overlaps(span, ignore):
            continue
        year = int(match.group("year"))
        return YearRange(year, year, match.group(0), *span)
    return None


# --------------------------------------------------------------------------- list length and request words


_COUNT_RE = re.compile(
    r"(?<!\w)(?:top|best|first|give me|show me|list|name)\s+(?P<n>\d{1,2}|five|ten|three|twenty|fifteen)(?!\w|['’]?s)",
    re.IGNORECASE,
)
_COUNT_WORDS = {"three": 3, "five": 5, "ten": 10, "fifteen": 15, "twenty": 20}


def parse_count(text: str, default: int | None = None, maximum: int = 20) -> int | None:
    """Return the list length asked for ("top 5", "best ten"), capped at ``maximum``; else ``default``."""
    match = _COUNT_RE.search(text)
    if not match:
        return default
    raw = match.group("n").lower()
    count = _COUNT_WORDS.get(raw) or int(raw)
    return max(1, min(count, maximum))


# Words that frame a request rather than name a movie. Removing them from the edges of a
# message leaves the title: "got more like that? The Princess Bride" -> "The Princess Bride".
_REQUEST_WORDS = frozenset("""
about after again all also along and any anything are as ask at basics be because been before best
by can cheers could details did do does don't dont else enjoy enjoyed even facts feel feels film films
flick flicks find for from gave get gets give given go got has have he heard her hey hi him his how i i'd
i'll i'm i've id ill im in info information is it it's its ive just kind know let like liked lines list
lowdown made make me mine more most movie movies my need next of on one ones or other others
out please plz pls rate rated rating recommend recommendation recommendations resembling said say saw see
seen semblance she show similar so some someone something stuff suggest suggestion suggestions tell
than thanks that their them then there these they thing things think this those thought to today
tonight totally try us vein view want was watch watched way we were what what's whats when which who
whom why will with would wrong you your
""".split())
_ARTICLES = frozenset({"a", "an", "the"})
# Request words that often end a title ("The Truman Show", "Stand by Me") and so stay at the end.
_TITLE_ENDINGS = frozenset({"show", "me", "him", "her", "us", "you", "them", "one", "way", "go", "see", "watch", "know", "say"})
_EDGE_PUNCTUATION = " \t-–—:;,.!?\"“”()[]{}"


def strip_request_words(text: str, keep: frozenset[str] = frozenset()) -> str:
    """Remove request words ("movies like", "tell me about", "please") from both ends of ``text``.

    Inner words are kept, so "films like The Man Who Knew Too Much please" leaves the whole
    title. Words in ``keep`` are never removed.
    """
    tokens = text.split()

    def word_of(token: str) -> str:
        return token.strip(_EDGE_PUNCTUATION).lower().replace("’", "'")

    def is_request_word(token: str) -> bool:
        word = word_of(token)
        return (not word) or (word in _REQUEST_WORDS and word not in keep)

    # An article starts a title ("The Princess Bride") unless a request word follows it ("a movie like").
    while tokens and (
        is_request_word(tokens[0])
        or (word_of(tokens[0]) in _ARTICLES and len(tokens) > 1 and is_request_word(tokens[1]))
    ):
        tokens.pop(0)
    while tokens and (
        (is_request_word(tokens[-1]) and word_of(tokens[-1]) not in _TITLE_ENDINGS) or word_of(tokens[-1]) in _ARTICLES
    ):
        tokens.pop()
    return " ".join(tokens).strip(_EDGE_PUNCTUATION)
