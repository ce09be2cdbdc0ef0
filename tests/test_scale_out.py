"""Two Rasa servers behind one address, sharing a PostgreSQL tracker store and a Redis lock store.

One conversation alternates between the servers and keeps its state (the last suggestions, so
"more" continues the list) and its ratings. The Rasa HTTP API rejects requests without the token.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import urllib.request
import uuid

import pytest

from assistant_runner import get_status, post_json, require_assistant, start_assistant

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

POSTGRES = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)


def _reachable(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def tracker_database():
    """A new, empty PostgreSQL database for this module's tracker store, dropped afterwards."""
    if not _reachable(POSTGRES):
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    if not _reachable(REDIS):
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    import psycopg2

    name = f"rasa_scale_{secrets.token_hex(4)}"
    admin = psycopg2.connect(host=POSTGRES[0], port=POSTGRES[1], user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    yield name
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="module")
def cluster(tracker_database, tmp_path_factory):
    require_assistant()
    token = secrets.token_urlsafe(16)
    running = start_assistant(
        tmp_path_factory.mktemp("scale-out"),
        rasa_servers=2,
        env={
            "BOT_TRACKER_STORE_URL": f"postgresql://postgres@127.0.0.1:5432/{tracker_database}",
            "BOT_LOCK_STORE_URL": "redis://127.0.0.1:6379/0",
            "BOT_LOCK_STORE_PREFIX": f"scaletest{secrets.token_hex(4)}",
            "BOT_AUTH_TOKEN": token,
        },
    )
    yield running
    running.stop()


def _servers(cluster) -> list[str]:
    return [f"http://127.0.0.1:{cluster.rasa_port + offset}" for offset in (1, 2)]


def _tracker(base: str, sender: str, token: str) -> dict:
    status, body = get_status(f"{base}/conversations/{sender}/tracker?token={token}")
    assert status == 200, body
    return json.loads(body)


def _suggested_ids(replies: list[dict]) -> list[int]:
    for reply in replies:
        custom = reply.get("custom")
        if isinstance(custom, dict) and custom.get("type") == "movie_cards":
            return [movie["movie_id"] for movie in custom["movies"]]
    raise AssertionError(f"no movie cards in the replies: {replies}")


def test_run_config_uses_shared_stores(cluster, tracker_database):
    import yaml

    endpoints = yaml.safe_load((cluster.run_dir() / "endpoints.yml").read_text())
    assert endpoints["tracker_store"]["dialect"] == "postgresql"
    assert endpoints["tracker_store"]["db"] == tracker_database
    assert endpoints["lock_store"]["type"] == "redis"


def test_proxy_alternates_between_servers(cluster):
    seen = []
    for _ in range(4):
        with urllib.request.urlopen(f"{cluster.rasa_url}/webhooks/rest/", timeout=30) as response:
            seen.append(response.headers["X-Rasa-Upstream"])
    assert seen[0] != seen[1]
    assert seen[0::2] == [seen[0]] * 2
    assert set(seen) == set(_servers(cluster))


def test_conversation_keeps_state_across_servers(cluster, tracker_database):
    from recengine.store import RatingsStore

    first, second = _servers(cluster)
    sender = f"scale-{uuid.uuid4()}"

    page_one = _suggested_ids(cluster.send(sender, "something like Heat", base_url=first))
    # "more" on the other server continues the list the first server made.
    page_two = _suggested_ids(cluster.send(sender, "more", base_url=second))
    assert page_two, "the second page is empty"
    assert not set(page_one) & set(page_two), "the second server repeated the first page"

    # A rating given on the first server is stored, and the second server lists it.
    saved = cluster.send(sender, "Heat 4 stars", base_url=first)
    assert any("Heat (1995)" in (reply.get("text") or "") for reply in saved), saved
    listed = cluster.send(sender, "what have I rated?", base_url=second)
    assert any("Heat (1995)" in (reply.get("text") or "") for reply in listed), listed

    store = RatingsStore(cluster.env["RECENGINE_DATABASE_URL"])
    try:
        stored = store.get(sender, 6)
    finally:
        store.close()
    assert stored is not None and stored.rating == 4.0

    # Both servers read the same tracker from PostgreSQL.
    token = cluster.env["BOT_AUTH_TOKEN"]
    tracker_first, tracker_second = _tracker(first, sender, token), _tracker(second, sender, token)
    assert tracker_first["events"] == tracker_second["events"]
    texts = [event.get("text") for event in tracker_first["events"] if event["event"] == "user"]
    assert texts == ["something like Heat", "more", "Heat 4 stars", "what have I rated?"]

    import psycopg2

    with psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname=tracker_database) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM events WHERE sender_id = %s AND type_name = 'user'", (sender,))
            assert cursor.fetchone()[0] == 4


def test_concurrent_messages_all_recorded(cluster):
    # Messages of one conversation sent at once to both servers wait for the Redis lock in turn,
    # so the tracker ends with every one of them and nothing is lost.
    sender = f"scale-concurrent-{uuid.uuid4()}"
    servers = _servers(cluster)
    messages = ["hello", "top comedies", "best 90s thrillers", "what's popular"]
    errors: list[BaseException] = []

    def send(index: int) -> None:
        try:
            cluster.send(sender, messages[index], base_url=servers[index % 2])
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=send, args=(index,)) for index in range(len(messages))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    events = _tracker(servers[0], sender, cluster.env["BOT_AUTH_TOKEN"])["events"]
    texts = [event.get("text") for event in events if event["event"] == "user"]
    assert sorted(texts) == sorted(messages)
    bot_turns = [event for event in events if event["event"] == "action" and event["name"] == "action_listen"]
    assert len(bot_turns) >= len(messages)


@pytest.mark.parametrize("query", ["", "?token=wrong-token"])
def test_http_api_rejects_missing_or_wrong_token(cluster, query):
    for base in [*_servers(cluster), cluster.rasa_url]:
        status, _ = get_status(f"{base}/conversations/someone/tracker{query}")
        assert status == 401, base
        status, _ = get_status(f"{base}/status{query}")
        assert status == 401, base


def test_http_api_with_token(cluster):
    status, body = get_status(f"{_servers(cluster)[0]}/status?token={cluster.env["BOT_AUTH_TOKEN"]}")
    assert status == 200
    assert json.loads(body)["model_file"].endswith("assistant.tar.gz")


def test_webhook_through_proxy(cluster):
    replies = post_json(f"{cluster.rasa_url}/webhooks/rest/webhook", {"sender": f"proxy-{uuid.uuid4()}", "message": "hello"})
    assert isinstance(replies, list) and replies
    assert all(reply.get("text") or reply.get("custom") for reply in replies)
