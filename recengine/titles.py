"""Parse MovieLens title strings into a display title, a year and alternative titles.

MovieLens writes ``Matrix, The (1999)`` and puts other names in parentheses before the year:
``Run Lola Run (Lola rennt) (1998)``, ``Independence Day (a.k.a. ID4) (1996)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ParsedTitle", "parse_movielens_title", "move_article_to_front", "ARTICLES"]

# Articles that MovieLens moves to the end of a title, in the languages its catalog uses.
ARTICLES = (
    "The", "A", "An", "La", "Le", "Les", "L'", "Il", "Lo", "Gli", "I", "El", "Los", "Las", "Un", "Una",
    "Une", "Der", "Die", "Das", "Den", "Det", "De", "Het", "Ein", "Eine", "O", "Os", "As", "Um", "Uma",
)

_YEAR_AT_END = re.compile(r"\s*\((\d{4})(?:\s*[-–]\s*(?:\d{4})?)?\)\s*$")
_GROUP_AT_END = re.compile(r"\s*\(([^()]*)\)\s*$")
_AKA = re.compile(r"^\s*a\.?k\.?a\.?\s+", re.IGNORECASE)
_TRAILING_ARTICLE = re.compile(r"^(?P<body>.+?),\s*(?P<article>" + "|".join(re.escape(a) for a in ARTICLES) + r")$")


@dataclass(frozen=True)
class ParsedTitle:
    """One MovieLens title split into its parts."""

    title: str
    """Main title with any trailing article moved to the front: ``The Matrix``."""
    year: int | None
    alt_titles: tuple[str, ...]
    """Other names given in parentheses, articles moved to the front, ``a.k.a.`` removed."""

    @property
    def display_title(self) -> str:
        """Return ``Title (Year)``, or the bare title when the year is unknown."""
        return f"{self.title} ({self.year})" if self.year else self.title


def move_article_to_front(text: str) -> str:
    """Turn ``Matrix, The`` into ``The Matrix`` and ``Auberge espagnole, L'`` into ``L'Auberge espagnole``."""
    text = text.strip()
    match = _TRAILING_ARTICLE.match(text)
    if not match:
        return text
    article = match.group("article")
    separator = "" if article.endswith("'") else " "
    return f"{article}{separator}{match.group('body').strip()}"


def parse_movielens_title(raw: str) -> ParsedTitle:
    """Split a MovieLens title into main title, year and alternative titles.

    >>> parse_movielens_title("Run Lola Run (Lola rennt) (1998)")
    ParsedTitle(title='Run Lola Run', year=1998, alt_titles=('Lola rennt',))
    >>> parse_movielens_title("City of Lost Children, The (Cité des enfants perdus, La) (1995)").alt_titles
    ('La Cité des enfants perdus',)
    """
    text = " ".join(str(raw).split())
    year = None
    match = _YEAR_AT_END.search(text)
    if match:
        year = int(match.group(1))
        text = text[: match.start()]
    alternatives: list[str] = []
    while True:
        group = _GROUP_AT_END.search(text)
        # Keep a parenthesis that is the whole title, such as "(500) Days of Summer" after stripping.
        if not group or group.start() == 0:
            break
        alternatives.insert(0, group.group(1))
        text = text[: group.start()]
    title = move_article_to_front(text) or str(raw).strip()
    alt_titles = []
    for alternative in alternatives:
        cleaned = move_article_to_front(_AKA.sub("", alternative))
        if cleaned and cleaned != title and cleaned not in alt_titles:
            alt_titles.append(cleaned)
    return ParsedTitle(title=title, year=year, alt_titles=tuple(alt_titles))
