"""The conversation cases (85 at the time of writing), end to end over the REST channel.

The module trains the Rasa model if its inputs changed, starts the action server and a Rasa
server on loopback (tests/e2e_servers.py), and sends every case in a fresh conversation, each
message decoded exactly as stored. A case passes when every field of its ``expect`` object
holds for the reply to its last message and for the ratings stored in the database under its
sender id. Pass rates per case file go to ``tests/artifacts/conversation_cases.md`` and to the
terminal.

Movies in a reply are read from the card payload (movie ids) and must also appear as
"Title (Year)" in the reply's text, so a payload that disagrees with the text fails too.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from recengine.config import REPO_ROOT
from tests.e2e_servers import ensure_model, running_servers

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CASES_DIR = Path(os.environ.get("CONVERSATION_CASES_DIR", REPO_ROOT.parent / "shared" / "cases"))
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
ERROR_TEXT = ("traceback", "exception", "keyerror", "typeerror", "nonetype", "internal server error", "sqlite3",
              "psycopg2", "sql syntax", "valueerror", "attributeerror")


def _load_cases() -> list[dict[str, Any]]:
    if not CASES_DIR.is_dir():
        return []
    cases = []
    for path in sorted(CASES_DIR.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                cases.append(json.loads(line))
    return cases


CASES = _load_cases()


def _fold(text: str) -> str:
    """Lower-case ``text`` and drop accents and punctuation, so "Cuarón" matches "Cuaron"."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(char for char in text if not unicodedata.combining(char)).casefold()
    return re.sub(r"[\W_]+", " ", text).strip()


@dataclass
class Reply:
    """Everything the bot sent back for one message."""

    messages: list[dict[str, Any]]

    @property
    def texts(self) -> list[str]:
        return [message["text"] for message in self.messages if isinstance(message.get("text"), str)]

    @property
    def button_titles(self) -> list[str]:
        return [button.get("title", "") for message in self.messages for button in message.get("buttons") or []]

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [message["custom"] for message in self.messages
                if isinstance(message.get("custom"), dict) and message["custom"].get("type") == "movie_cards"]

    @property
    def full_text(self) -> str:
        return "\n".join(self.texts + self.button_titles)

    def recommended_ids(self) -> list[int]:
        return [int(movie["movie_id"]) for payload in self.payloads for movie in payload.get("movies", [])]

    def seed_ids(self) -> list[int]:
        return [int(payload["seed"]["movie_id"]) for payload in self.payloads if payload.get("seed")]


@dataclass
class Result:
    case_id: str
    category: str
    failures: list[str] = field(default_factory=list)
    transcript: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


class CaseChecker:
    """Checks one case's ``expect`` fields against the replies and the ratings store."""

    def __init__(self, catalog, store):
        self.catalog = catalog
        self.store = store

    def display(self, movie_id: int) -> str:
        return self.catalog.movie(movie_id).display_title

    def text_names(self, text: str, movie_id: int) -> bool:
        """Return True when ``text`` names the movie with its title and year, compared loosely."""
        movie = self.catalog.movie(movie_id)
        folded = _fold(text)
        names = [movie.title, *movie.alt_titles]
        if movie.year:
            return any(f"{_fold(name)} {movie.year}" in folded for name in names)
        return any(_fold(name) in folded for name in names)

    def check(self, case: dict[str, Any], reply: Reply, sender: str) -> list[str]:
        expect, failures = case["expect"], []
        text = reply.full_text
        recommended = list(dict.fromkeys(reply.recommended_ids()))
        for movie_id in recommended:
            if not self.text_names("\n".join(reply.texts), movie_id):
                failures.append(f"card {self.display(movie_id)} is not named in the reply text")
        stored = {item.movie_id: item.rating for item in self.store.ratings_for(sender)}

        if "no_error_text" in expect and any(word in text.lower() for word in ERROR_TEXT):
            failures.append("reply shows internal error text")
        if expect.get("reply_nonempty") and not any(t.strip() for t in reply.texts):
            failures.append("no non-blank text in the reply")
        if "seed_movie_id" in expect:
            seed = expect["seed_movie_id"]
            if seed not in reply.seed_ids() and not self.text_names(text, seed):
                failures.append(f"seed {self.display(seed)} not understood (seeds: {reply.seed_ids()})")
        if "min_titles" in expect and len(recommended) < expect["min_titles"]:
            failures.append(f"{len(recommended)} movies recommended, fewer than {expect['min_titles']}")
        for movie_id in expect.get("must_not_include") or []:
            if movie_id in recommended:
                failures.append(f"recommended {self.display(movie_id)}, which must not be included")
        if case["category"] == "charts":
            failures += self._check_chart(expect, recommended)
        if "valid_movie_ids" in expect:
            invalid = [movie_id for movie_id in recommended if movie_id not in set(expect["valid_movie_ids"])]
            if invalid:
                failures.append(f"movies not credited to {expect['person']}: {[self.display(i) for i in invalid]}")
        if "must_mention_any" in expect:
            folded = _fold(text)
            if not any(_fold(item) in folded for item in expect["must_mention_any"]):
                failures.append(f"reply mentions none of {expect['must_mention_any']}")
        if "stored" in expect:
            failures += self._check_stored(expect, stored)
        if "rated" in expect:
            for movie_id, rating in expect["rated"]:
                if stored.get(movie_id) != rating:
                    failures.append(f"{self.display(movie_id)} stored as {stored.get(movie_id)}, expected {rating}")
        if case["category"] == "ambiguous":
            failures += self._check_ambiguous(case, reply, stored, recommended)
        return failures

    def _check_chart(self, expect, recommended) -> list[str]:
        failures = []
        wanted = expect.get("genre_any_of") or ([expect["genre"]] if expect.get("genre") else [])
        for movie_id in recommended:
            movie = self.catalog.movie(movie_id)
            if wanted and not set(wanted) & set(movie.genres):
                failures.append(f"{movie.display_title} is not {' or '.join(wanted)}")
            if expect.get("year_from") is not None and (movie.year or 0) < expect["year_from"]:
                failures.append(f"{movie.display_title} is before {expect['year_from']}")
            if expect.get("year_to") is not None and (movie.year or 9999) > expect["year_to"]:
                failures.append(f"{movie.display_title} is after {expect['year_to']}")
        return failures

    def _check_stored(self, expect, stored) -> list[str]:
        if expect["stored"] is False:
            return [f"stored ratings {stored}, expected none"] if stored else []
        movie_id = expect["movie_id"]
        if movie_id not in stored:
            return [f"no rating stored for {self.display(movie_id)} (stored: {stored})"]
        if not expect["rating_min"] <= stored[movie_id] <= expect["rating_max"]:
            return [f"{self.display(movie_id)} stored as {stored[movie_id]}, expected "
                    f"{expect['rating_min']}–{expect['rating_max']}"]
        return []

    def _check_ambiguous(self, case, reply, stored, recommended) -> list[str]:
        expect = case["expect"]
        candidates, most_rated = expect["candidate_ids"], expect["most_rated_id"]
        # Acting shows as a stored rating or a seed; a reply that only names movies either asks
        # (two or more candidates named) or gives facts about the one it names.
        acted_on = (set(reply.seed_ids()) | set(stored)) & set(candidates)
        if acted_on:
            if acted_on == {most_rated}:
                return []
            return [f"acted on {[self.display(i) for i in sorted(acted_on)]}, not only the most rated "
                    f"{self.display(most_rated)}"]
        named = [movie_id for movie_id in candidates if self.text_names(reply.full_text, movie_id)]
        if len(named) >= 2 or named == [most_rated]:
            return []
        return [f"neither asked (named {[self.display(i) for i in named]}) nor acted on the most rated "
                f"{self.display(most_rated)}"]


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    if not CASES:
        pytest.skip(f"no conversation cases in {CASES_DIR}: set CONVERSATION_CASES_DIR")
    work = tmp_path_factory.mktemp("assistant")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    model = ensure_model(ARTIFACTS / "rasa-train.log")
    with running_servers(work, model) as running:
        yield running


@pytest.fixture(scope="module")
def checker(servers):
    from recengine.build import load_catalog_artefact
    from recengine.store import RatingsStore

    store = RatingsStore(servers.database_url)
    yield CaseChecker(load_catalog_artefact().catalog, store)
    store.close()


@pytest.fixture(scope="module")
def results():
    collected: dict[str, Result] = {}
    yield collected
    _write_report(collected)


def _write_report(collected: dict[str, Result]) -> None:
    if not collected:
        return
    by_file: dict[str, list[Result]] = defaultdict(list)
    for result in collected.values():
        by_file[result.category].append(result)
    lines = ["| case file | passed | cases | pass rate |", "|---|---|---|---|"]
    total = passed = 0
    for category in sorted(by_file):
        group = by_file[category]
        ok = sum(result.passed for result in group)
        total, passed = total + len(group), passed + ok
        lines.append(f"| {category}.jsonl | {ok} | {len(group)} | {ok / len(group):.0%} |")
    lines.append(f"| all | {passed} | {total} | {passed / total:.0%} |")
    failures = [f"- {result.case_id}: {'; '.join(result.failures)}" for result in collected.values() if not result.passed]
    report = "\n".join(["# Conversation cases", "", *lines, "", *(["## Failures", "", *failures] if failures else [])])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "conversation_cases.md").write_text(report + "\n")
    transcript = {case_id: result.transcript for case_id, result in collected.items()}
    (ARTIFACTS / "conversation_cases.json").write_text(json.dumps(transcript, indent=1, ensure_ascii=False))
    print("\n" + report)


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_conversation_case(case, servers, checker, results):
    sender = f"case-{case['id']}-{uuid.uuid4().hex[:8]}"
    turns = case.get("turns") or [case["text"]]
    result = Result(case["id"], case["category"])
    results[case["id"]] = result
    reply = Reply([])
    for message in turns:
        reply = Reply(servers.send(sender, message))
        result.transcript.append((message, [m.get("text") or json.dumps(m.get("custom")) for m in reply.messages]))
    result.failures = checker.check(case, reply, sender)
    assert not result.failures, f"{case['id']} failed: {result.failures}\nreplies: {reply.texts}"


def test_two_conversations_stay_apart(servers, checker):
    """Interleaved users keep their own lists and ratings: "more" continues the sender's own list."""
    alice, bob = f"alice-{uuid.uuid4().hex[:8]}", f"bob-{uuid.uuid4().hex[:8]}"
    first = Reply(servers.send(alice, "best westerns"))
    Reply(servers.send(bob, "movies like The Matrix"))
    servers.send(bob, "Heat 4 stars")
    more = Reply(servers.send(alice, "more"))
    first_ids, more_ids = first.recommended_ids(), more.recommended_ids()
    assert len(first_ids) == 10
    assert more_ids
    assert not set(first_ids) & set(more_ids)
    for movie_id in more_ids:
        assert "Western" in checker.catalog.movie(movie_id).genres
    assert checker.store.ratings_for(alice) == []
    assert [(item.movie_id, item.rating) for item in checker.store.ratings_for(bob)] == [(6, 4.0)]


def test_answers_turn_personal_after_ratings(servers):
    """A newcomer gets popular picks, honestly labelled; after three ratings the picks are personal."""
    sender = f"newcomer-{uuid.uuid4().hex[:8]}"
    before = Reply(servers.send(sender, "recommend me something"))
    assert [payload["kind"] for payload in before.payloads] == ["popular"]
    assert "don't know your taste" in before.full_text
    for message in ("Toy Story 5 stars", "Finding Nemo 4.5", "The Lion King 4"):
        servers.send(sender, message)
    after = Reply(servers.send(sender, "recommend me something"))
    assert [payload["kind"] for payload in after.payloads] == ["personal"]
    assert not {1, 6377, 364} & set(after.recommended_ids())
    assert "because you rated" in after.full_text


def test_rasa_test_stories_pass(tmp_path):
    """Every test story's intents, entities and next actions are predicted as written (`rasa test`)."""
    import subprocess

    from tests.e2e_servers import PYTHON, _quiet_env

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    model = ensure_model(ARTIFACTS / "rasa-train.log")
    out = tmp_path / "results"
    completed = subprocess.run(
        [PYTHON, "-m", "rasa", "test", "core", "--stories", str(REPO_ROOT / "tests" / "test_stories.yml"),
         "--model", str(model), "--out", str(out)],
        cwd=REPO_ROOT, env=_quiet_env(), capture_output=True, text=True, timeout=1800,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    failed = (out / "failed_test_stories.yml").read_text()
    assert "None of the test stories failed" in failed, failed
