"""Two Rasa servers behind one address, sharing a PostgreSQL tracker store and a Redis lock store.

One conversation alternates between the servers and keeps its state (the last suggestions, so
"more" continues the list) and its ratings. The Rasa HTTP API rejects requests without the token.
The round-robin proxy is also tested on its own, in front of two plain HTTP servers.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from assistant_runner import REPO_ROOT, free_port, get_status, post_json, require_assistant, start_assistant

POSTGRES = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)


def _cluster_test(function):
    """Mark a test that needs the two-server cluster (and so PostgreSQL, Redis and a Rasa model)."""
    for mark in (pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis):
        function = mark(function)
    return function


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


@_cluster_test
def test_run_config_uses_shared_stores(cluster, tracker_database):
    import yaml

    endpoints = yaml.safe_load((cluster.run_dir() / "endpoints.yml").read_text())
    assert endpoints["tracker_store"]["dialect"] == "postgresql"
    assert endpoints["tracker_store"]["db"] == tracker_database
    assert endpoints["lock_store"]["type"] == "bot.lockstore.AtomicRedisLockStore"


@_cluster_test
def test_proxy_alternates_between_servers(cluster):
    seen = []
    for _ in range(4):
        with urllib.request.urlopen(f"{cluster.rasa_url}/webhooks/rest/", timeout=30) as response:
            seen.append(response.headers["X-Rasa-Upstream"])
    assert seen[0] != seen[1]
    assert seen[0::2] == [seen[0]] * 2
    assert set(seen) == set(_servers(cluster))


@_cluster_test
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


@_cluster_test
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


@_cluster_test
@pytest.mark.parametrize("query", ["", "?token=wrong-token"])
def test_http_api_rejects_missing_or_wrong_token(cluster, query):
    for base in [*_servers(cluster), cluster.rasa_url]:
        status, _ = get_status(f"{base}/conversations/someone/tracker{query}")
        assert status == 401, base
        status, _ = get_status(f"{base}/status{query}")
        assert status == 401, base


@_cluster_test
def test_http_api_with_token(cluster):
    status, body = get_status(f"{_servers(cluster)[0]}/status?token={cluster.env['BOT_AUTH_TOKEN']}")
    assert status == 200
    assert json.loads(body)["model_file"].endswith("assistant.tar.gz")


@_cluster_test
def test_webhook_through_proxy(cluster):
    replies = post_json(f"{cluster.rasa_url}/webhooks/rest/webhook", {"sender": f"proxy-{uuid.uuid4()}", "message": "hello"})
    assert isinstance(replies, list) and replies
    assert all(reply.get("text") or reply.get("custom") for reply in replies)


# ---- the proxy on its own ------------------------------------------------------------------------


class _EchoServer:
    """A plain HTTP server that answers every request with its own name and what it received."""

    def __init__(self, name: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def _echo(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.dumps({
                    "server": name, "method": self.command, "path": self.path,
                    "content_type": self.headers.get("Content-Type"), "origin": self.headers.get("Origin"),
                    "body": self.rfile.read(length).decode(),
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Access-Control-Allow-Origin", "http://chat.example")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_OPTIONS = _echo

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy():
    upstreams = [_EchoServer("one"), _EchoServer("two")]
    dead = f"http://127.0.0.1:{free_port()}"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.proxy", "--port", str(port), upstreams[0].url, upstreams[1].url, dead],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while get_status_or_none(f"{base}/ping") is None:
        assert process.poll() is None, "the proxy exited at start-up"
        assert time.monotonic() < deadline, "the proxy did not start within 30 s"
        time.sleep(0.2)
    yield base, [upstream.url for upstream in upstreams], dead
    process.terminate()
    process.wait(timeout=10)
    for upstream in upstreams:
        upstream.close()


def get_status_or_none(url: str):
    try:
        return get_status(url, timeout=2)
    except OSError:
        return None


def _call(url: str, data: bytes | None = None, headers: dict | None = None):
    import urllib.error

    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


def test_proxy_round_robin_and_forwarding(proxy):
    base, upstreams, dead = proxy
    # The fixture's ping took the first turn, so this cycle starts at the second upstream.
    answers = [_call(f"{base}/webhooks/rest/webhook?x=1", data=b'{"sender": "s", "message": "hi"}',
                     headers={"Content-Type": "application/json", "Origin": "http://chat.example"})
               for _ in range(3)]
    statuses = [status for status, _, _ in answers]
    assert statuses == [200, 502, 200]
    first = answers[0]
    assert first[1]["X-Rasa-Upstream"] == upstreams[1]
    assert first[2] == {
        "server": "two", "method": "POST", "path": "/webhooks/rest/webhook?x=1", "content_type": "application/json",
        "origin": "http://chat.example", "body": '{"sender": "s", "message": "hi"}',
    }
    assert first[1]["Access-Control-Allow-Origin"] == "http://chat.example"
    assert answers[1][1]["X-Rasa-Upstream"] == dead
    assert dead in answers[1][2]["error"]
    assert answers[2][2]["server"] == "one"


def test_proxy_pins_socketio_to_first_server(proxy):
    base, upstreams, _ = proxy
    servers = {_call(f"{base}/socket.io/?EIO=4&transport=polling")[2]["server"] for _ in range(4)}
    assert servers == {"one"}


# ---- the lock store on its own -------------------------------------------------------------------

_CONTENDER = """
import asyncio, sys, time
from rasa.utils.endpoints import EndpointConfig
from bot.lockstore import AtomicRedisLockStore

prefix, rounds = sys.argv[1], int(sys.argv[2])
store = AtomicRedisLockStore(EndpointConfig(url="127.0.0.1", port=6379, db=0, key_prefix=prefix))
counter = prefix + ":counter"

async def main():
    for _ in range(rounds):
        async with store.lock("one-conversation"):
            # A read-modify-write with a pause inside: any overlap between processes loses an update.
            value = int(store.red.get(counter) or 0)
            await asyncio.sleep(0.005)
            store.red.set(counter, value + 1)

asyncio.run(main())
"""


@pytest.fixture
def redis_prefix():
    if not _reachable(REDIS):
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    import redis

    prefix = f"locktest{secrets.token_hex(4)}"
    client = redis.Redis(host=REDIS[0], port=REDIS[1], db=0)
    yield prefix, client
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


@pytest.mark.redis
def test_lock_excludes_other_processes(redis_prefix):
    prefix, client = redis_prefix
    rounds, processes = 40, 3
    workers = [subprocess.Popen([sys.executable, "-c", _CONTENDER, prefix, str(rounds)], cwd=REPO_ROOT)
               for _ in range(processes)]
    for worker in workers:
        assert worker.wait(timeout=120) == 0
    assert int(client.get(f"{prefix}:counter")) == rounds * processes
    assert list(client.scan_iter(f"{prefix}*mutex*")) == [], "a lock key was left behind"


@pytest.mark.redis
def test_lock_taken_over_after_holder_dies(redis_prefix):
    import asyncio

    from rasa.utils.endpoints import EndpointConfig

    from bot.lockstore import AtomicRedisLockStore

    prefix, client = redis_prefix
    store = AtomicRedisLockStore(EndpointConfig(url=REDIS[0], port=REDIS[1], db=0, key_prefix=prefix))
    key = store._mutex_key("abandoned")
    holders: list[bytes | None] = []

    async def take() -> None:
        async with store.lock("abandoned", lock_lifetime=5):
            holders.append(client.get(key))

    # Another server holds the lock: nobody else gets it.
    client.set(key, "other-server", px=60_000)
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(asyncio.wait_for(take(), timeout=0.5))
    assert holders == []

    # That server died: its key expires at the end of its lifetime, and the lock is free again.
    client.pexpire(key, 100)
    asyncio.run(asyncio.wait_for(take(), timeout=10))
    assert len(holders) == 1
    assert holders[0] not in (None, b"other-server")
    assert client.get(key) is None
