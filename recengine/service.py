"""The engine as the assistant sees it: one object that answers every kind of request.

:class:`MovieService` loads the catalog and every trained model once (the action server keeps
one instance for its whole life) and offers what a conversation needs, as plain data with the
reason behind every suggestion:

- reading a message: :meth:`~MovieService.find_title` (the NLU's title span, else titles found
  in the raw text, else the text without its request words), :meth:`~MovieService.read_rating`
  (title and score together, so "7/10 for District 9" keeps the 9 in the title);
- lists: :meth:`~MovieService.similar`, :meth:`~MovieService.chart`,
  :meth:`~MovieService.person_movies`, :meth:`~MovieService.recommend`,
  :meth:`~MovieService.next_watch`, each a :class:`MovieList` that says which model answered;
- the user's data, keyed by the conversation's sender id: :meth:`~MovieService.rate`,
  :meth:`~MovieService.ratings`, :meth:`~MovieService.forget`, :meth:`~MovieService.mark`.

A model whose artefact has not been built is logged once at start-up and left out; requests
that need it fall back (next-watch → hybrid → SVD → content → popularity) and the returned
list carries the reason, so the assistant can tell the user honestly where picks came from.
Nothing here keeps per-user state in memory: ratings and marks live in the ratings store.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Sequence

from rapidfuzz import fuzz, process

from recengine.catalog import Catalog, Movie
from recengine.config import Settings, get_settings
from recengine.parsing import (
    Score, clean_text, cut_spans, find_scores, find_sentiment, pick_explicit_score, strip_request_words,
)
from recengine.people import PeopleIndex, PersonMatch
from recengine.popularity import PopularityConfig, PopularityModel
from recengine.recommender import RatedMovie, Recommendations, Request, Suggestion
from recengine.search import Mention, Resolution, TitleIndex, title_key
from recengine.store import RatingsStore

__all__ = [
    "ServiceConfig", "MovieCard", "MovieList", "TitleLookup", "RatingRequest", "RatingOutcome",
    "MovieService", "FOUND", "AMBIGUOUS", "NOT_FOUND", "NO_TITLE",
]

log = logging.getLogger(__name__)

FOUND, AMBIGUOUS, NOT_FOUND, NO_TITLE = "found", "ambiguous", "not_found", "no_title"

# Title-search score of a one- or two-typo match of a whole title (recengine.search scores an
# exact title 100 and a match within two edits 72 to 80); below it a longer guess is not trusted.
_CLOSE_MATCH_SCORE = 72.0
_QUERY_EDGES = " -–—:,.!?\"'"

Span = tuple[int, int]


@dataclass(frozen=True)
class ServiceConfig:
    """How the assistant's answers are sized and how titles are judged."""

    page_size: int = 5
    """Movies shown per reply for similar, personal, next-watch and people lists."""
    chart_page_size: int = 10
    """Movies shown per reply for charts."""
    list_size: int = 30
    """Movies computed per request and kept for "more"."""
    min_title_score: float = 70.0
    """Lowest title-search score (0–100) accepted as the movie the user meant."""
    dominance_ratio: float = 5.0
    """When movies share a title, act on the most rated one without asking if it has at least
    this many times the ratings of the next one (Titanic 1997 against Titanic 1953)."""
    few_ratings: int = 3
    """Below this many ratings, personal picks come with a note that they are rough."""
    relaxed_percentile: float = 25.0
    """Vote-count percentile for topping up a chart that has too few qualified movies."""
    onboarding_pool: int = 60
    """How many of the most rated movies onboarding chooses from."""

    def __post_init__(self) -> None:
        if self.page_size < 1 or self.chart_page_size < 1:
            raise ValueError("page sizes must be at least 1")
        if self.list_size < max(self.page_size, self.chart_page_size):
            raise ValueError(f"list_size ({self.list_size}) must be at least the page sizes")
        if not 0 <= self.min_title_score <= 100:
            raise ValueError(f"min_title_score must be between 0 and 100, got {self.min_title_score}")
        if self.dominance_ratio < 1:
            raise ValueError(f"dominance_ratio must be 1 or more, got {self.dominance_ratio}")


# --------------------------------------------------------------------------- result types


@dataclass(frozen=True)
class MovieCard:
    """One suggested movie as the assistant shows it."""

    movie_id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    reason: str
    source: str
    predicted_rating: float | None = None

    @property
    def display_title(self) -> str:
        return f"{self.title} ({self.year})" if self.year else self.title

    def payload(self) -> dict[str, Any]:
        """Return the card as JSON-ready data for the web widget."""
        return {
            "movie_id": self.movie_id, "title": self.title, "year": self.year, "genres": list(self.genres),
            "reason": self.reason, "source": self.source,
            "predicted_rating": None if self.predicted_rating is None else round(float(self.predicted_rating), 2),
        }


@dataclass(frozen=True)
class MovieList:
    """A ranked list for one request, with the model that produced it and why."""

    kind: str
    """What was asked: similar, chart, person, personal, nextwatch or popular."""
    label: str
    """What the list is, for "More {label}": "movies like Heat (1995)", "Romance of the 1990s"."""
    cards: tuple[MovieCard, ...]
    source: str
    """Model that answered."""
    page_size: int
    requested: str | None = None
    """Model that was asked first; differs from ``source`` when a fallback answered."""
    fallback_reason: str | None = None
    seed_id: int | None = None
    qualified: int | None = None
    """For charts topped up with less-rated movies: how many fully qualified."""
    rating_count: int = 0
    """How many ratings the user had when the list was made."""

    @property
    def used_fallback(self) -> bool:
        return self.requested is not None and self.requested != self.source

    def page(self, start: int = 0, exclude: Iterable[int] = ()) -> list[MovieCard]:
        """Return the cards of one page starting at ``start``, skipping ids in ``exclude``."""
        blocked = set(exclude)
        remaining = [card for card in self.cards[start:] if card.movie_id not in blocked]
        return remaining[: self.page_size]

    def to_state(self, shown: int) -> dict[str, Any]:
        """Return JSON-ready data to keep in a conversation slot for "more"."""
        return {
            "kind": self.kind, "label": self.label, "source": self.source, "page_size": self.page_size,
            "seed_id": self.seed_id, "shown": shown,
            "cards": [card.payload() for card in self.cards],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "MovieList":
        """Rebuild a list kept by :meth:`to_state`; raises ValueError when the data is malformed."""
        try:
            cards = tuple(
                MovieCard(int(card["movie_id"]), str(card["title"]), card.get("year"), tuple(card.get("genres") or ()),
                          str(card.get("reason") or ""), str(card.get("source") or ""), card.get("predicted_rating"))
                for card in state["cards"]
            )
            return cls(kind=str(state["kind"]), label=str(state["label"]), cards=cards, source=str(state.get("source", "")),
                       page_size=int(state.get("page_size") or 5), seed_id=state.get("seed_id"))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"invalid saved list: {error}") from None


@dataclass(frozen=True)
class TitleLookup:
    """What a message's title turned out to be."""

    status: str
    """FOUND, AMBIGUOUS (several movies share the title), NOT_FOUND or NO_TITLE (nothing to look up)."""
    query: str
    """The title as the user wrote it, cleaned for quoting back."""
    movie: Movie | None = None
    candidates: tuple[Movie, ...] = ()
    """For AMBIGUOUS: the movies sharing the title, most rated first. For FOUND after picking the
    best known of several: the others. For NOT_FOUND: the closest titles."""
    span: Span | None = None
    """Where the title is in the message, when known."""
    picked_most_known: bool = False


@dataclass(frozen=True)
class RatingRequest:
    """A message read as a rating: the movie and the score, each possibly missing."""

    lookup: TitleLookup
    score: Score | None


@dataclass(frozen=True)
class RatingOutcome:
    """A rating that was stored."""

    movie: Movie
    rating: float
    previous: float | None


# --------------------------------------------------------------------------- the service


def _quote(text: str, limit: int = 60) -> str:
    """Return user text safe to quote in a reply: no braces or angle brackets, at most ``limit`` characters."""
    cleaned = re.sub(r"[{}<>\[\]\\`]", " ", clean_text(text, max_length=limit * 2))
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


class MovieService:
    """Everything the assistant asks of the engine, loaded once per process."""

    def __init__(
        self,
        catalog: Catalog,
        store: RatingsStore,
        config: ServiceConfig | None = None,
        models: dict[str, Any] | None = None,
        missing: dict[str, str] | None = None,
    ):
        self.catalog = catalog
        self.store = store
        self.config = config or ServiceConfig()
        started = time.perf_counter()
        self.titles = TitleIndex(catalog)
        self.people = PeopleIndex(catalog)
        self.popularity = PopularityModel(catalog)
        self._relaxed = PopularityModel(catalog, PopularityConfig(percentile=self.config.relaxed_percentile))
        self.models: dict[str, Any] = dict(models or {})
        self.missing: dict[str, str] = dict(missing or {})
        movies = catalog.movies
        self._counts = movies["rating_count"].to_dict()
        # Title, year and genres of every movie, read once: building a card per suggestion through
        # Catalog.movie (a pandas row lookup) costs more than the recommendation itself.
        self._card_info: dict[int, tuple[str, int | None, tuple[str, ...]]] = {
            int(movie_id): (title, None if year != year or year is None else int(year), tuple(genres))
            for movie_id, title, year, genres in zip(movies.index, movies["title"], movies["year"].astype("float64"),
                                                     movies["genres"])
        }
        self._suggest_keys = [title_key(title) for title in movies["title"]]
        self._suggest_ids = [int(movie_id) for movie_id in movies.index]
        self._well_known = [int(movie_id) for movie_id in movies.sort_values(
            ["rating_count", "rating_mean"], ascending=False).index[: self.config.onboarding_pool]]
        log.info("Indexed %d movies for search in %.2f s", len(catalog), time.perf_counter() - started)

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, settings: Settings | None = None, config: ServiceConfig | None = None,
             database_url: str | None = None) -> "MovieService":
        """Load the catalog, the ratings store and every built model; log what is missing.

        The catalog comes from its built artefact, or from the dataset files when the artefact
        is missing (slower). Raises :class:`~recengine.errors.RecEngineError` only when neither
        works, since nothing can be answered without a catalog.
        """
        settings = settings or get_settings()
        started = time.perf_counter()
        data = _load_catalog(settings)
        store = RatingsStore(database_url or settings.database_url)
        models, missing = _load_models(data, settings)
        service = cls(data.catalog, store, config, models, missing)
        log.info("Movie service ready in %.1f s: models %s%s", time.perf_counter() - started,
                 ", ".join(sorted(models)) or "none",
                 f"; missing {', '.join(f'{name} ({reason})' for name, reason in sorted(missing.items()))}" if missing else "")
        return service

    def close(self) -> None:
        """Close the ratings store's connections."""
        self.store.close()

    # ------------------------------------------------------------------ movies

    def movie(self, movie_id: int) -> Movie:
        """Return one catalog movie (raises UnknownMovieError for an unknown id)."""
        return self.catalog.movie(movie_id)

    def has_movie(self, movie_id: object) -> bool:
        return movie_id in self.catalog

    # ------------------------------------------------------------------ reading titles

    def find_title(self, text: str, hint: str | None = None, hint_span: Span | None = None,
                   ignore: Sequence[Span] = (), cut: Sequence[Span] = ()) -> TitleLookup:
        """Find the movie a message names.

        Tried in order, the first that resolves wins: ``hint`` (the NLU's title span, minus any
        part inside ``ignore``, such as a score); the longest catalog title written inside the
        text; the text without request words ("movies like", "please"); each part of the text
        split at dashes, colons and question marks. A span that resolves to several movies with
        the same title gives AMBIGUOUS unless one is far better known (``dominance_ratio``).
        Spans in ``cut`` (sentiment words) are removed only before the last two steps, since a
        title may contain them ("Good Will Hunting").
        """
        text = clean_text(text)
        candidates = list(self._title_queries(text, hint, hint_span, ignore, cut))
        first_query = next((query for query, _ in candidates if query), "")
        for query, span in candidates:
            resolution = self.titles.resolve(query)
            if resolution.found and resolution.best.score >= self.config.min_title_score:
                return self._lookup_from(resolution, query, span)
        if not first_query:
            return TitleLookup(NO_TITLE, "")
        closest = self.closest_titles(first_query)
        return TitleLookup(NOT_FOUND, _quote(first_query), candidates=tuple(closest))

    def _title_queries(self, text: str, hint: str | None, hint_span: Span | None,
                       ignore: Sequence[Span], cut: Sequence[Span]) -> Iterable[tuple[str, Span | None]]:
        """Yield (query, span) pairs in the order :meth:`find_title` tries them."""
        mentions = [mention for mention in self.titles.find_mentions(text) if not _overlaps(mention, ignore)]
        # Bare numbers ("3") are titles too, but never the title a request is about.
        mentions = [mention for mention in mentions
                    if not mention.text.strip().isdigit() and not _inside_longer_title(text, mention.start, mention.end)]
        hinted = self._hint_query(text, hint, hint_span, ignore, mentions)
        if hinted is not None:
            yield hinted
        rest = cut_spans(text, list(ignore) + list(cut))
        remainder = strip_request_words(rest)
        longest = max(mentions, key=lambda item: item.end - item.start, default=None)
        if longest is not None and len(remainder) > len(longest.text) and title_key(longest.text) in title_key(remainder):
            # The whole remaining text may be a misspelt longer title around an exact short one:
            # in "movies similar to Requiem for a Dreem" the catalog's "Requiem" is not meant.
            resolution = self.titles.resolve(remainder)
            if resolution.found and resolution.best.score >= _CLOSE_MATCH_SCORE:
                yield remainder, None
        for mention in sorted(mentions, key=lambda item: (-(item.end - item.start), item.start)):
            yield _with_year(text, mention.text, mention.end), (mention.start, mention.end)
        if remainder:
            yield remainder, None
        for part in re.split(r"\s+[-–—]\s+|:\s+|\?|!|,|;", rest):
            part = strip_request_words(part)
            if part and part != remainder:
                yield part, None

    @staticmethod
    def _hint_query(text: str, hint: str | None, hint_span: Span | None, ignore: Sequence[Span],
                    mentions: Sequence[Mention]) -> tuple[str, Span | None] | None:
        """Return the NLU's title span as a query, or None when it is not worth trying first.

        The NLU sometimes marks only part of a title ("Happy" of "rate Happy Gilmore 3.5"). A
        catalog title written in the text that overlaps the span and is longer wins, and so does
        a longer Title Case name around it ("Once" of "Everything Everywhere All at Once").
        """
        if not hint:
            return None
        if not (hint_span and 0 <= hint_span[0] < hint_span[1] <= len(text) and text[hint_span[0]:hint_span[1]] == hint):
            located = text.find(hint)
            hint_span = (located, located + len(hint)) if located >= 0 else None
        if hint_span is None:
            query = clean_text(hint).strip(_QUERY_EDGES)
            return (query, None) if len(title_key(query)) >= 2 else None
        start, end = hint_span
        if any(mention.start < end and start < mention.end and mention.end - mention.start > end - start
               for mention in mentions):
            return None
        if _inside_longer_title(text, start, end):
            return None
        query = cut_spans(text[start:end], [(s - start, e - start) for s, e in ignore if s < end and start < e])
        query = query.strip(_QUERY_EDGES)
        if len(title_key(query)) < 2:
            return None
        with_year = _with_year(text, query, end)
        return with_year, (start, end)

    def _lookup_from(self, resolution: Resolution, query: str, span: Span | None) -> TitleLookup:
        tied = resolution.tied
        movies = [self.catalog.movie(match.movie_id) for match in tied]
        quoted = _quote(query)
        if len(movies) == 1:
            return TitleLookup(FOUND, quoted, movies[0], span=span)
        movies.sort(key=lambda movie: (-movie.rating_count, movie.movie_id))
        top, runner_up = movies[0].rating_count, movies[1].rating_count
        if top >= self.config.dominance_ratio * max(runner_up, 1):
            return TitleLookup(FOUND, quoted, movies[0], candidates=tuple(movies[1:]), span=span, picked_most_known=True)
        return TitleLookup(AMBIGUOUS, quoted, candidates=tuple(movies), span=span)

    def closest_titles(self, query: str, limit: int = 3) -> list[Movie]:
        """Return the catalog movies whose titles look most like ``query`` (for "did you mean")."""
        key = title_key(query)
        if len(key) < 3:
            return []
        hits = process.extract(key, self._suggest_keys, scorer=fuzz.ratio, limit=limit * 4, score_cutoff=62)
        ranked = sorted(hits, key=lambda hit: (-round(hit[1]), -self._counts.get(self._suggest_ids[hit[2]], 0)))
        seen: list[int] = []
        for _, _, position in ranked:
            movie_id = self._suggest_ids[position]
            if movie_id not in seen:
                seen.append(movie_id)
        return [self.catalog.movie(movie_id) for movie_id in seen[:limit]]

    # ------------------------------------------------------------------ reading ratings

    def read_rating(self, text: str, hint: str | None = None, hint_span: Span | None = None) -> RatingRequest:
        """Read a movie and a score from a message such as "7/10 for District 9" or "Ice Age 3".

        A score with a unit (stars, a fraction, star symbols) always counts. A bare number counts
        unless it is part of a catalog title written in the message ("Toy Story 3"); among bare
        numbers the last one wins ("Men in Black 4.5"). Without a number, a sentiment word outside
        the title gives the score ("Good Will Hunting was dreadful" is 1 star).

        NOTE: a trailing valid number is read as the score unless the title with it is in the
        catalog, so "Ice Age 3" stores Ice Age with 3 stars although a user might mean the third film.
        """
        text = clean_text(text)
        multiword_titles = [
            (mention.start, mention.end) for mention in self.titles.find_mentions(text)
            if len(mention.text.split()) > 1
        ]
        if hint and hint_span and text[hint_span[0]:hint_span[1]] == hint and len(hint.split()) > 1:
            resolution = self.titles.resolve(hint)
            if resolution.found and resolution.best.score >= 99:
                multiword_titles.append(hint_span)
        scores = [
            score for score in find_scores(text)
            if not (score.bare and any(start <= score.start and score.end <= end for start, end in multiword_titles))
        ]
        score = pick_explicit_score(text, scores)
        score_spans = [score.span] if score is not None else []
        lookup = self.find_title(text, hint, hint_span, ignore=score_spans, cut=_sentiment_spans(text))
        if score is None:
            ignore = [lookup.span] if lookup.span else []
            score = find_sentiment(text, ignore)
        return RatingRequest(lookup, score)

    # ------------------------------------------------------------------ ratings and marks

    def rate(self, user_key: str, movie_id: int, value: float) -> RatingOutcome:
        """Store a rating for the user, replacing an earlier one; raises InvalidRatingError off the scale."""
        movie = self.catalog.movie(movie_id)
        previous = self.store.get(user_key, movie.movie_id)
        stored = self.store.rate(user_key, movie.movie_id, value, source="conversation")
        log.info("Stored rating %.1f of movie %d for %s", stored.rating, movie.movie_id, user_key)
        return RatingOutcome(movie, stored.rating, None if previous is None else previous.rating)

    def ratings(self, user_key: str) -> list[tuple[Movie, float]]:
        """Return the user's ratings, oldest first, with their movies (ids missing from the catalog skipped)."""
        return [(self.catalog.movie(item.movie_id), item.rating) for item in self.store.ratings_for(user_key)
                if item.movie_id in self.catalog]

    def rating_count(self, user_key: str) -> int:
        return self.store.count(user_key)

    def forget(self, user_key: str) -> int:
        """Delete the user's ratings and marks; return how many ratings there were."""
        deleted = self.store.delete_all(user_key)
        self.store.clear_marks(user_key)
        return deleted

    def mark(self, user_key: str, movie_ids: Iterable[int], kind: str) -> list[Movie]:
        """Mark movies "seen" or "not_interested" so they are never suggested again; return them."""
        marked = []
        for movie_id in dict.fromkeys(int(movie_id) for movie_id in movie_ids):
            if movie_id in self.catalog:
                self.store.mark(user_key, movie_id, kind)
                marked.append(self.catalog.movie(movie_id))
        return marked

    def blocked(self, user_key: str | None) -> set[int]:
        """Return the ids never to suggest to the user: rated, seen and not interested."""
        if not user_key:
            return set()
        return {item.movie_id for item in self.store.ratings_for(user_key)} | self.store.marked(user_key)

    def _history(self, user_key: str | None) -> list[RatedMovie]:
        if not user_key:
            return []
        return [item.as_rated_movie() for item in self.store.ratings_for(user_key)]

    # ------------------------------------------------------------------ lists

    def similar(self, movie_id: int, user_key: str | None = None, exclude: Iterable[int] = ()) -> MovieList:
        """Return movies like ``movie_id`` from the hybrid (the seed's content neighbours ranked for the
        user, or by what the seed's fans watch), else by content similarity, else the seed's genre chart."""
        seed = self.catalog.movie(movie_id)
        history = self._history(user_key)
        blocked = frozenset(set(exclude) | (self.store.marked(user_key) if user_key else set()))
        request = Request(history=tuple(history), seed_movie_id=seed.movie_id, n=self.config.list_size, exclude=blocked)
        # The hybrid ranks the seed's content neighbours for this user, or by what the seed's fans
        # watch when there are no ratings; an answer from another model is no "movies like" list.
        chain = ["hybrid", "content"]
        result, source, reason = self._first_answer(request, chain, accept=chain)
        label = f"movies like {seed.display_title}"
        if result is None:
            genre = seed.genres[0] if seed.genres else None
            chart = self.popularity.chart(genre=genre, n=self.config.list_size, exclude=request.blocked_ids())
            return self._make_list("similar", label, chart, self.config.page_size, requested=chain[0],
                                   fallback_reason=reason or f"I have no similarity data for {seed.display_title}",
                                   seed_id=seed.movie_id, rating_count=len(history))
        return self._make_list("similar", label, result, self.config.page_size, requested=chain[0],
                               fallback_reason=reason if source != chain[0] else None, seed_id=seed.movie_id,
                               rating_count=len(history))

    def chart(self, genres: Sequence[str] = (), year_from: int | None = None, year_to: int | None = None,
              exclude: Iterable[int] = ()) -> MovieList:
        """Return the weighted-rating chart for the genres (all must match) and years.

        When fewer movies qualify than a page holds, the chart is topped up from a chart with a
        lower vote threshold and ``qualified`` says how many fully qualified.
        """
        genres = tuple(dict.fromkeys(genres))
        blocked = frozenset(exclude)
        label = _chart_label(genres, year_from, year_to)
        wanted = self.config.list_size
        first = genres[0] if genres else None

        def run(model: PopularityModel) -> list[Suggestion]:
            # Several genres: chart the first and keep movies that have all of them.
            pool = model.chart(first, year_from, year_to, n=wanted * (8 if len(genres) > 1 else 1), exclude=blocked)
            return [item for item in pool.items if set(genres) <= set(self._card_info[item.movie_id][2])][:wanted]

        items = run(self.popularity)
        qualified = None
        if len(items) < self.config.chart_page_size:
            qualified = len(items)
            known = {item.movie_id for item in items}
            items += [item for item in run(self._relaxed) if item.movie_id not in known][: wanted - len(items)]
        result = Recommendations(items=items, source=self.popularity.name)
        chart = self._make_list("chart", label, result, self.config.chart_page_size)
        return _replace(chart, qualified=qualified)

    def find_person(self, text: str, hint: str | None = None) -> PersonMatch | None:
        """Find the director or actor a message names: the NLU's span, else names found in the text."""
        text = clean_text(text)
        queries = [hint] if hint else []
        for mention in self.people.find_mentions(text):
            if mention.matches:
                queries.append(mention.text)
        queries.append(strip_request_words(text))
        for query in queries:
            if not query:
                continue
            matches = self.people.find(query, limit=3)
            if matches and matches[0].score >= 80:
                return matches[0]
        return None

    def person_movies(self, person: PersonMatch, role: str | None = None, user_key: str | None = None) -> MovieList:
        """Return the person's movies in one role ("director" or "actor"; None: their main role), most rated first."""
        role = role if role in ("director", "actor") and (person.directed if role == "director" else person.acted) else person.main_role
        ids = person.directed if role == "director" else person.acted
        blocked = self.store.marked(user_key, "not_interested") if user_key else set()
        reason = f"directed by {person.name}" if role == "director" else f"{person.name} in a leading role"
        items = [Suggestion(movie_id=movie_id, score=float(len(ids) - rank), reason=reason, source="people")
                 for rank, movie_id in enumerate(ids) if movie_id not in blocked][: self.config.list_size]
        label = f"movies directed by {person.name}" if role == "director" else f"movies with {person.name}"
        return self._make_list("person", label, Recommendations(items=items, source="people"), self.config.page_size)

    def recommend(self, user_key: str, genres: Sequence[str] = (), year_from: int | None = None,
                  year_to: int | None = None, exclude: Iterable[int] = ()) -> MovieList:
        """Return personal picks from the user's ratings: hybrid, then SVD, then content, then popularity."""
        return self._personal(user_key, "personal", ["hybrid", "svd", "content"], genres, year_from, year_to, exclude)

    def next_watch(self, user_key: str, exclude: Iterable[int] = ()) -> MovieList:
        """Return what to watch next from the order of the user's ratings (next-watch model first)."""
        return self._personal(user_key, "nextwatch", ["nextwatch", "hybrid", "svd", "content"], (), None, None, exclude)

    def _personal(self, user_key: str, kind: str, chain: list[str], genres: Sequence[str],
                  year_from: int | None, year_to: int | None, exclude: Iterable[int]) -> MovieList:
        history = self._history(user_key)
        blocked = frozenset(set(exclude) | self.store.marked(user_key))
        if not history:
            chart = self.chart(genres, year_from, year_to, exclude=blocked)
            return _replace(chart, kind="popular", requested=chain[0], fallback_reason="no ratings yet", rating_count=0)
        genre = genres[0] if genres else None
        request = Request(history=tuple(history), n=self.config.list_size if len(genres) < 2 else self.config.list_size * 4,
                          exclude=blocked, genre=genre, year_from=year_from, year_to=year_to)
        result, source, reason = self._first_answer(request, chain)
        if result is not None and len(genres) > 1:
            kept = [item for item in result.items if set(genres) <= set(self._card_info[item.movie_id][2])]
            result = Recommendations(items=kept[: self.config.list_size], source=result.source,
                                     fallback_reason=result.fallback_reason)
        label = "picks for you" if kind == "personal" else "next-watch picks"
        if result is None or not result.items:
            chart = self.chart(genres, year_from, year_to, exclude=blocked | {item.movie_id for item in history})
            return _replace(chart, kind=kind, label=label, requested=chain[0],
                            fallback_reason=reason or "no personal model could answer", rating_count=len(history))
        return self._make_list(kind, label, result, self.config.page_size, requested=chain[0],
                               fallback_reason=reason if source != chain[0] else None, rating_count=len(history))

    def _first_answer(self, request: Request, chain: list[str], accept: Sequence[str] | None = None,
                      ) -> tuple[Recommendations | None, str | None, str | None]:
        """Ask each model of ``chain`` in turn; return the first non-empty answer, its model and why earlier ones failed.

        With ``accept``, an answer counts only when its ``source`` is one of those models (the hybrid
        reports "popularity" when it fell back to a chart, for example).
        """
        reasons = []
        for name in chain:
            model = self.models.get(name)
            if model is None:
                reasons.append(self.missing.get(name, f"the {name} model is not built"))
                continue
            started = time.perf_counter()
            try:
                result = model.recommend(request)
            except Exception:  # noqa: BLE001 - one model failing must not cost the user an answer
                log.exception("The %s model failed; trying the next one", name)
                reasons.append(f"the {name} model failed")
                continue
            log.debug("%s answered %d items in %.1f ms", name, len(result.items), (time.perf_counter() - started) * 1000)
            if result.items and (accept is None or result.source in accept):
                return result, name, "; ".join(reasons) or None
            reasons.append(result.fallback_reason or f"the {name} model had no suggestion")
        return None, None, "; ".join(reasons) or None

    def _make_list(self, kind: str, label: str, result: Recommendations, page_size: int, requested: str | None = None,
                   fallback_reason: str | None = None, seed_id: int | None = None, rating_count: int = 0) -> MovieList:
        cards = []
        for item in result.items:
            info = self._card_info.get(int(item.movie_id))
            if info is None:
                continue
            title, year, genres = info
            cards.append(MovieCard(int(item.movie_id), title, year, genres, item.reason, item.source, item.predicted_rating))
        return MovieList(kind=kind, label=label, cards=tuple(cards), source=result.source, page_size=page_size,
                         requested=requested, fallback_reason=fallback_reason, seed_id=seed_id, rating_count=rating_count)

    # ------------------------------------------------------------------ onboarding

    def onboarding_movies(self, user_key: str, limit: int = 10) -> list[Movie]:
        """Return well-known movies the user has not rated or marked, most rated first."""
        blocked = self.blocked(user_key)
        return [self.catalog.movie(movie_id) for movie_id in self._well_known if movie_id not in blocked][:limit]

    def status(self) -> dict[str, str]:
        """Return each model's state: "loaded" or why it is missing."""
        state = {name: "loaded" for name in self.models}
        state.update(self.missing)
        return state


# --------------------------------------------------------------------------- helpers


def _overlaps(mention: Mention, spans: Sequence[Span]) -> bool:
    return any(mention.start < end and start < mention.end for start, end in spans)


# Short words that may stay lower case inside a title written in Title Case.
_TITLE_CASE_LINKS = frozenset("a an and at by for from in of on or the to vs with".split())


def _with_year(text: str, query: str, end: int) -> str:
    """Return ``query`` with the year written right after it in ``text`` ("Scarface (1983)") appended."""
    year = re.match(r"\s*\(?\s*((?:18|19|20)\d\d)\s*\)?", text[end:])
    if year and not re.search(r"(?:18|19|20)\d\d\)?\s*$", query):
        return f"{query} {year.group(1)}"
    return query


def _inside_longer_title(text: str, start: int, end: int) -> bool:
    """Return True when a mention is only the end or middle of a longer Title Case name.

    In "rate Everything Everywhere All at Once 5 stars" the catalog title "Once" (the span from
    ``start`` to ``end``) is found, but the user capitalised a longer name that the catalog lacks. A message written all in upper or
    lower case carries no such signal, so this returns False for it.
    """
    letters = [char for char in text if char.isalpha()]
    if not letters or all(char.isupper() for char in letters) or all(char.islower() for char in letters):
        return False
    words = [(match.start(), match.end(), match.group()) for match in re.finditer(r"[^\s,;:!?\"()\[\]]+", text)]
    inside = [index for index, (first, last, _) in enumerate(words) if start <= first and last <= end]
    if not inside:
        return False

    def capitalised(index: int) -> bool:
        return words[index][2][:1].isupper()

    def linked(index: int) -> bool:
        return capitalised(index) or words[index][2].lower() in _TITLE_CASE_LINKS

    extra = 0
    index = inside[0] - 1
    while index >= 0 and linked(index) and not re.search(r"[,;:!?]\s*$", text[words[index][1]:words[index + 1][0]]):
        extra += capitalised(index)
        index -= 1
    index = inside[-1] + 1
    while index < len(words) and linked(index) and not re.search(r"[,;:!?-]", text[words[index - 1][1]:words[index][0]]):
        extra += capitalised(index)
        index += 1
    return extra >= 2


def _sentiment_spans(text: str) -> list[Span]:
    """Return the spans of every sentiment phrase, so they are cut before a title is looked up."""
    spans: list[Span] = []
    while (found := find_sentiment(text, spans)) is not None:
        spans.append(found.span)
    return spans


def _chart_label(genres: Sequence[str], year_from: int | None, year_to: int | None) -> str:
    subject = " and ".join(genres) + " movies" if genres else "movies"
    if year_from is None and year_to is None:
        return subject
    if year_from is not None and year_to is not None:
        if year_from == year_to:
            return f"{subject} from {year_from}"
        if year_from % 10 == 0 and year_to == year_from + 9:
            return f"{subject} of the {year_from}s"
        return f"{subject} from {year_from} to {year_to}"
    if year_from is not None:
        return f"{subject} since {year_from}"
    return f"{subject} before {year_to + 1}"


def _replace(movie_list: MovieList, **changes: Any) -> MovieList:
    return replace(movie_list, **changes)


def _load_catalog(settings: Settings):
    """Load the catalog artefact, or the dataset files when the artefact has not been built."""
    from recengine.build import load_catalog_artefact
    from recengine.errors import ArtefactError
    from recengine.movielens import load_dataset

    try:
        return load_catalog_artefact(settings=settings)
    except ArtefactError as error:
        log.warning("%s Reading the dataset files instead, which is slower.", error)
        return load_dataset(settings.dataset, settings)


# Each optional model: (name, function that loads it from the built artefacts). A loader that
# raises leaves the model out and its message in ``MovieService.missing``.
def _model_loaders() -> list[tuple[str, Callable[[Any, Settings, dict[str, Any]], Any]]]:
    def content(data, settings, loaded):
        from recengine.content import load_content_artefact

        return load_content_artefact(settings=settings)

    def svd(data, settings, loaded):
        from recengine.svd import load_svd_artefact

        return load_svd_artefact(data.catalog, settings=settings)

    def nextwatch(data, settings, loaded):
        from recengine.build import artefact_dir
        from recengine.nextwatch.recommender import NextWatchModel

        return NextWatchModel.load(artefact_dir("nextwatch", settings=settings), data.catalog)

    def hybrid(data, settings, loaded):
        from recengine.hybrid import HybridModel

        if "svd" not in loaded:
            raise RuntimeError("it needs the svd model")
        return HybridModel(data.catalog, loaded["svd"], loaded.get("content"))

    return [("content", content), ("svd", svd), ("nextwatch", nextwatch), ("hybrid", hybrid)]


def _load_models(data, settings: Settings) -> tuple[dict[str, Any], dict[str, str]]:
    models: dict[str, Any] = {}
    missing: dict[str, str] = {}
    for name, loader in _model_loaders():
        started = time.perf_counter()
        try:
            model = loader(data, settings, models)
        except Exception as error:  # noqa: BLE001 - an unbuilt or broken artefact must not stop the assistant
            # The reason reaches users ("these come from the content model because ..."), so it
            # names the model only; the log line has the path and the command that builds it.
            missing[name] = f"the {name} model is not built yet"
            log.warning("The %s model is not available, so its requests fall back to other models: %s", name, error)
            continue
        if model is not None:
            models[name] = model
            log.info("Loaded the %s model in %.1f s", name, time.perf_counter() - started)
    return models, missing
