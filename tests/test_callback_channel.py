"""The callback channel end to end on loopback. For a message posted to Rasa's callback webhook,
the bot's replies are POSTed to the URL in BOT_CALLBACK_URL, here a small receiving server."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from assistant_runner import get_status, post_json, require_assistant, start_assistant

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


class _Receiver:
    """An HTTP server on 127.0.0.1 that queues the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.bodies: queue.Queue = queue.Queue()
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
                length = int(self.headers.get("Content-Length") or 0)
                received.put((self.path, json.loads(self.rfile.read(length) or b"null")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/bot-replies"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def collect(self, count_at_least: int, timeout: float = 60, settle: float = 1.0) -> list[tuple[str, dict]]:
        """Wait for at least ``count_at_least`` bodies, then for ``settle`` seconds of quiet."""
        bodies: list[tuple[str, dict]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            wait = settle if len(bodies) >= count_at_least else max(0.1, deadline - time.monotonic())
            try:
                bodies.append(self.bodies.get(timeout=wait))
            except queue.Empty:
                if len(bodies) >= count_at_least:
                    break
        return bodies

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver():
    server = _Receiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
def assistant(receiver, tmp_path_factory):
    require_assistant()
    running = start_assistant(tmp_path_factory.mktemp("callback"), env={"BOT_CALLBACK_URL": receiver.url})
    yield running
    running.stop()


def test_callback_channel_is_up(assistant):
    status, body = get_status(f"{assistant.rasa_url}/webhooks/callback/")
    assert status == 200
    assert json.loads(body) == {"status": "ok"}


def test_replies_arrive_at_receiver(assistant, receiver):
    sender = f"callback-{uuid.uuid4()}"
    answer = post_json(f"{assistant.rasa_url}/webhooks/callback/webhook", {"sender": sender, "message": "something like Heat"})
    # The webhook itself only acknowledges; the replies go to the callback URL.
    assert answer == "success"
    bodies = receiver.collect(count_at_least=1)
    assert bodies, "no reply reached the callback receiver"
    assert {path for path, _ in bodies} == {"/bot-replies"}
    assert {body["recipient_id"] for _, body in bodies} == {sender}

    texts = "\n".join(body.get("text") or "" for _, body in bodies)
    assert "Heat (1995)" in texts
    cards = [body["custom"] for _, body in bodies if isinstance(body.get("custom"), dict)]
    assert cards and cards[0]["type"] == "movie_cards"
    suggested = [movie["movie_id"] for movie in cards[0]["movies"]]
    assert len(suggested) >= 5
    assert 6 not in suggested, "the seed movie Heat (movie id 6) was suggested as like itself"


def test_callback_and_rest_give_same_answer(assistant, receiver):
    # The same question over both channels, from two new users, gets the same suggestions.
    callback_sender, rest_sender = f"callback-{uuid.uuid4()}", f"rest-{uuid.uuid4()}"
    post_json(f"{assistant.rasa_url}/webhooks/callback/webhook", {"sender": callback_sender, "message": "films similar to the matrix"})
    by_callback = [body for _, body in receiver.collect(count_at_least=1)]
    by_rest = assistant.send(rest_sender, "films similar to the matrix")

    def strip(replies: list[dict]) -> list[dict]:
        return [{key: value for key, value in reply.items() if key != "recipient_id"} for reply in replies]

    assert strip(by_callback) == strip(by_rest)
