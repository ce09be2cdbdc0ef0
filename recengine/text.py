"""Text folding shared by title search, people search and the assistant's parsing."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["fold", "words"]

# Characters that decomposition leaves alone but readers treat as plain letters.
_SPECIAL_LETTERS = str.maketrans({"ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ß": "ss", "ł": "l", "Ł": "l", "đ": "d", "ð": "d", "þ": "th"})
_NON_WORD = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Lower-case ``text`` and remove accents: ``"Amélie"`` becomes ``"amelie"``."""
    decomposed = unicodedata.normalize("NFKD", str(text).translate(_SPECIAL_LETTERS))
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def words(text: str) -> list[str]:
    """Split folded ``text`` into words of letters and digits; apostrophes join (``"don't"`` → ``"dont"``)."""
    folded = fold(text).replace("'", "").replace("’", "")
    return [word for word in _NON_WORD.split(folded) if word]
