"""The launcher: run configuration from the environment, training fingerprints, process control,
and whole runs of ``python -m bot`` on a small Rasa project (cold start, warm start, Ctrl-C,
a server that fails to start)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from assistant_runner import free_port
from bot.launcher import Launcher, LauncherOptions, parse_options
from bot.processes import ManagedProcess, ProcessSpec, StartError, port_in_use, wait_until_healthy
from bot.runconfig import (
    OPTIONAL_CHANNELS, ConfigError, compose_run_config, lock_store_from_url, read_plain_yaml,
    tracker_store_from_url, write_yaml,
)
from bot.training import ModelInputs, fingerprint, is_up_to_date, record_fingerprint

REPO_ROOT = Path(__file__).resolve().parent.parent
CHANNEL_VARIABLES = sorted(
    variable for channel in OPTIONAL_CHANNELS for variable in [*channel.required.values(), *channel.optional.values()]
)


def _clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any channel or store variable, plus ``extra``."""
    env = {name: value for name, value in os.environ.items()
           if name not in CHANNEL_VARIABLES and not name.startswith("BOT_")}
    env.update(extra)
    return env


def _compose(tmp_path: Path, env: dict[str, str], credentials: str | None = None, endpoints: str | None = None):
    credentials_path = tmp_path / "credentials.yml"
    endpoints_path = tmp_path / "endpoints.yml"
    credentials_path.write_text(credentials if credentials is not None else (REPO_ROOT / "credentials.yml").read_text())
    endpoints_path.write_text(endpoints if endpoints is not None else (REPO_ROOT / "endpoints.yml").read_text())
    return compose_run_config(credentials_path, endpoints_path, env, "http://127.0.0.1:5999/webhook")


def _rasa_reads(path: Path, env: dict[str, str]) -> dict:
    """Parse a YAML file exactly as Rasa 3.6 does, with ${VAR} expanded from ``env``."""
    import rasa.shared.utils.io

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        return rasa.shared.utils.io.read_config_file(str(path))
    finally:
        os.environ.clear()
        os.environ.update(saved)


# ---- credentials and endpoints -------------------------------------------------------------------


def test_repo_credentials_parse_without_channel_variables():
    content = _rasa_reads(REPO_ROOT / "credentials.yml", _clean_env())
    assert set(content) == {"rest", "socketio", "callback"}
    assert content["callback"]["url"].startswith("http://127.0.0.1:")


def test_commented_channel_blocks_match_launcher_table():
    # The commented-out blocks in credentials.yml document the same keys and variables the launcher adds.
    text = (REPO_ROOT / "credentials.yml").read_text()
    # A commented block is "# name:" followed by "#   key: value" lines.
    uncommented = "\n".join(line[2:] for line in text.splitlines() if re.match(r"^# ([a-z]+:$|  [a-z_-]+: )", line))
    blocks = yaml.safe_load(uncommented)
    for channel in OPTIONAL_CHANNELS:
        expected = {key: "${%s}" % variable for key, variable in {**channel.required, **channel.optional}.items()}
        assert blocks[channel.name] == expected, channel.name


def test_default_run_has_only_default_channels(tmp_path):
    config = _compose(tmp_path, _clean_env())
    assert config.channels == ["rest", "socketio", "callback"]
    assert config.credentials["callback"] == {"url": "http://127.0.0.1:5034/bot"}
    assert config.child_env == {}


def test_telegram_block_added_when_variables_set(tmp_path):
    env = _clean_env(TELEGRAM_ACCESS_TOKEN="123:abc", TELEGRAM_BOT_NAME="movie_bot",
                     TELEGRAM_WEBHOOK_URL="https://example.test/webhooks/telegram/webhook")
    config = _compose(tmp_path, env)
    assert config.channels == ["rest", "socketio", "callback", "telegram"]
    assert config.credentials["telegram"] == {
        "access_token": "${TELEGRAM_ACCESS_TOKEN}", "verify": "${TELEGRAM_BOT_NAME}",
        "webhook_url": "${TELEGRAM_WEBHOOK_URL}",
    }
    written = tmp_path / "run-credentials.yml"
    write_yaml(config.credentials, written)
    assert "123:abc" not in written.read_text(), "a secret was written to disk"
    parsed = _rasa_reads(written, env)
    assert parsed["telegram"]["access_token"] == "123:abc"
    assert parsed["telegram"]["webhook_url"] == "https://example.test/webhooks/telegram/webhook"


def test_partly_configured_channel_stays_off(tmp_path):
    config = _compose(tmp_path, _clean_env(SLACK_BOT_TOKEN="xoxb-1"))
    assert "slack" not in config.credentials
    assert any("slack: off" in note and "SLACK_SIGNING_SECRET" in note for note in config.notes), config.notes


def test_slack_optional_channel_variable(tmp_path):
    env = _clean_env(SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s3cret")
    assert "slack_channel" not in _compose(tmp_path, env).credentials["slack"]
    env["SLACK_CHANNEL"] = "C0123"
    assert _compose(tmp_path, env).credentials["slack"]["slack_channel"] == "${SLACK_CHANNEL}"


def test_callback_url_from_environment(tmp_path):
    env = _clean_env(BOT_CALLBACK_URL="http://127.0.0.1:6001/replies")
    config = _compose(tmp_path, env)
    written = tmp_path / "run-credentials.yml"
    write_yaml(config.credentials, written)
    assert _rasa_reads(written, env)["callback"]["url"] == "http://127.0.0.1:6001/replies"


def test_unset_placeholder_is_a_clear_error(tmp_path):
    credentials = "rest:\ncallback:\n  url: http://127.0.0.1:1/x\ntelegram:\n  access_token: ${NOT_SET_ANYWHERE}\n"
    with pytest.raises(ConfigError, match=r"\$\{NOT_SET_ANYWHERE\}.*not set"):
        _compose(tmp_path, _clean_env(), credentials=credentials)


def test_action_url_and_sqlite_path_in_endpoints(tmp_path):
    config = _compose(tmp_path, _clean_env())
    assert config.endpoints["action_endpoint"]["url"] == "http://127.0.0.1:5999/webhook"
    store = config.endpoints["tracker_store"]
    assert store["dialect"] == "sqlite"
    assert store["db"] == str(tmp_path / "var" / "rasa-tracker.db")
    assert (tmp_path / "var").is_dir()
    assert "lock_store" not in config.endpoints


def test_postgres_and_redis_from_environment(tmp_path):
    env = _clean_env(BOT_TRACKER_STORE_URL="postgresql://rasa:p%40ss@db.local:5433/conversations",
                     BOT_LOCK_STORE_URL="redis://:hunter2@cache.local:6380/3", BOT_LOCK_STORE_PREFIX="movies")
    config = _compose(tmp_path, env)
    assert config.endpoints["tracker_store"] == {
        "type": "SQL", "dialect": "postgresql", "url": "db.local", "db": "conversations", "port": 5433,
        "username": "rasa", "password": "${BOT_TRACKER_STORE_PASSWORD}",
    }
    assert config.endpoints["lock_store"] == {
        "type": "bot.lockstore.AtomicRedisLockStore", "url": "cache.local", "port": 6380, "db": 3, "key_prefix": "movies",
        "password": "${BOT_LOCK_STORE_PASSWORD}",
    }
    assert config.child_env == {"BOT_TRACKER_STORE_PASSWORD": "p@ss", "BOT_LOCK_STORE_PASSWORD": "hunter2"}
    written = tmp_path / "run-endpoints.yml"
    write_yaml(config.endpoints, written)
    assert "hunter2" not in written.read_text()
    parsed = _rasa_reads(written, {**env, **config.child_env})
    assert parsed["tracker_store"]["password"] == "p@ss"


@pytest.mark.parametrize("url, message", [
    ("mongodb://127.0.0.1/rasa", "unsupported scheme"),
    ("postgresql://127.0.0.1:5432/", "must name a host and a database"),
    ("sqlite://", "names no database file"),
])
def test_bad_tracker_store_urls(url, message):
    with pytest.raises(ConfigError, match=message):
        tracker_store_from_url(url)


@pytest.mark.parametrize("url, message", [
    ("http://127.0.0.1:6379", "must be a redis:// URL"),
    ("redis://127.0.0.1:6379/zero", "must be a number"),
])
def test_bad_lock_store_urls(url, message):
    with pytest.raises(ConfigError, match=message):
        lock_store_from_url(url)


def test_sqlite_tracker_url_relative_and_absolute():
    assert tracker_store_from_url("sqlite:///var/t.db")[0]["db"] == "var/t.db"
    assert tracker_store_from_url("sqlite:////tmp/t.db")[0]["db"] == "/tmp/t.db"


def test_plain_yaml_keeps_placeholders_after_rasa_import(tmp_path):
    import rasa.shared.utils.io  # noqa: F401 - importing Rasa registers its ${VAR} resolver in PyYAML

    path = tmp_path / "x.yml"
    path.write_text("token: ${SURELY_UNSET_VARIABLE}\n")
    assert read_plain_yaml(path) == {"token": "${SURELY_UNSET_VARIABLE}"}


def test_several_servers_need_shared_stores(tmp_path):
    options = LauncherOptions(project=tmp_path, runs_dir=tmp_path / "runs", rasa_servers=2,
                              web_port=_free_port(), rasa_port=_free_port(), actions_port=_free_port())
    (tmp_path / "credentials.yml").write_text((REPO_ROOT / "credentials.yml").read_text())
    (tmp_path / "endpoints.yml").write_text((REPO_ROOT / "endpoints.yml").read_text())
    launcher = Launcher(options, env=_clean_env())
    launcher.run_dir = tmp_path
    with pytest.raises(ConfigError, match="BOT_TRACKER_STORE_URL=postgresql"):
        launcher._compose_config()


def test_command_line_options():
    options = parse_options(["--web-port", "9000", "--rasa-servers", "3", "--rasa-port", "7000"],
                            env={"BOT_AUTH_TOKEN": " tok ", "BOT_CORS_ORIGINS": "https://chat.example, https://b.example"})
    assert options.web_port == 9000
    assert options.rasa_server_ports == [7001, 7002, 7003]
    assert options.auth_token == "tok"
    assert options.allowed_origins() == [
        "http://127.0.0.1:9000", "http://localhost:9000", "https://chat.example", "https://b.example",
    ]
    assert parse_options([], env={}).auth_token is None


# ---- training fingerprint ------------------------------------------------------------------------


def _write_project(folder: Path) -> ModelInputs:
    (folder / "data").mkdir(parents=True)
    (folder / "config.yml").write_text("pipeline:\n  - name: WhitespaceTokenizer\n  - name: mypkg.parts.Cleaner\n")
    (folder / "domain.yml").write_text("intents: [greet]\n")
    (folder / "data" / "nlu.yml").write_text("nlu: []\n")
    (folder / "mypkg").mkdir()
    (folder / "mypkg" / "parts.py").write_text("class Cleaner: pass\n")
    return ModelInputs(project=folder, model_dir=folder / "models")


def test_fingerprint_follows_inputs(tmp_path):
    inputs = _write_project(tmp_path)
    first = fingerprint(inputs)
    assert first["files"] == ["config.yml", "data/nlu.yml", "domain.yml", "mypkg/parts.py"]
    assert fingerprint(inputs)["sha256"] == first["sha256"]
    for path, text in [("data/nlu.yml", "nlu: [x]\n"), ("mypkg/parts.py", "class Cleaner: x = 1\n"),
                       ("domain.yml", "intents: [greet, bye]\n")]:
        before = fingerprint(inputs)["sha256"]
        (tmp_path / path).write_text(text)
        assert fingerprint(inputs)["sha256"] != before, path
    (tmp_path / "data" / "stories.yml").write_text("stories: []\n")
    assert "data/stories.yml" in fingerprint(inputs)["files"]


def test_up_to_date_needs_model_and_same_inputs(tmp_path):
    inputs = _write_project(tmp_path)
    inputs.model_dir.mkdir()
    record_fingerprint(inputs, fingerprint(inputs))
    assert not is_up_to_date(inputs), "no model file yet"
    inputs.model_path.write_bytes(b"model")
    assert is_up_to_date(inputs)
    (tmp_path / "data" / "nlu.yml").write_text("nlu: [changed]\n")
    assert not is_up_to_date(inputs)


# ---- process control -----------------------------------------------------------------------------


def _free_port() -> int:
    return free_port()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _spec(tmp_path: Path, name: str, code: str, **extra) -> ProcessSpec:
    return ProcessSpec(name=name, label=f"{name} server", command=[sys.executable, "-c", textwrap.dedent(code)],
                       log_path=tmp_path / f"{name}.log", cwd=tmp_path, env=dict(os.environ), **extra)


def test_failed_start_names_process_and_log(tmp_path):
    process = ManagedProcess(_spec(tmp_path, "broken", """
        import sys
        print("loading the engine")
        print("ArtefactError: models/ml-latest-small/content is missing", flush=True)
        sys.exit(3)
    """, health_url=f"http://127.0.0.1:{_free_port()}/health", start_timeout=30))
    process.start()
    with pytest.raises(StartError) as caught:
        wait_until_healthy([process])
    message = str(caught.value)
    assert "The broken server failed to start: it exited with status 3" in message
    assert str(tmp_path / "broken.log") in message
    assert "ArtefactError: models/ml-latest-small/content is missing" in message


def test_start_timeout_names_health_url(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}/health"
    process = ManagedProcess(_spec(tmp_path, "silent", "import time; time.sleep(60)", health_url=url, start_timeout=1.5))
    process.start()
    try:
        with pytest.raises(StartError, match=f"no answer from {re.escape(url)} within 2 s"):
            wait_until_healthy([process])
    finally:
        process.stop()
    assert process.returncode is not None


def test_stop_kills_the_whole_process_group(tmp_path):
    # The child starts a grandchild and ignores SIGTERM, so stopping needs SIGKILL for the whole group.
    pid_file = tmp_path / "grandchild.pid"
    process = ManagedProcess(_spec(tmp_path, "stubborn", f"""
        import signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(pid_file)!r}, "w").write(str(grandchild.pid))
        time.sleep(600)
    """))
    process.start()
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the child never started its grandchild"
        time.sleep(0.1)
    grandchild = int(pid_file.read_text())
    started = time.monotonic()
    process.stop(grace=1.0)
    assert process.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(grandchild), "the grandchild outlived the stop"


def test_port_in_use_detected():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert port_in_use("127.0.0.1", port)
    assert not port_in_use("127.0.0.1", port)


def test_launcher_refuses_busy_port(tmp_path, capsys):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        options = LauncherOptions(project=tmp_path, runs_dir=tmp_path / "runs", web_port=busy,
                                  rasa_port=_free_port(), actions_port=_free_port(), build=False)
        status = Launcher(options, env=_clean_env()).run()
    assert status == 2
    log_text = (tmp_path / "runs" / "latest" / "launcher.log").read_text()
    assert f"port {busy} on 127.0.0.1 for the web chat is already in use" in log_text
    assert "--web-port" in log_text


# ---- whole runs on a small Rasa project ------------------------------------------------------------

TINY_PROJECT = {
    "config.yml": """
        recipe: default.v1
        language: en
        assistant_id: launcher-test
        pipeline:
          - name: WhitespaceTokenizer
          - name: KeywordIntentClassifier
        policies:
          - name: RulePolicy
    """,
    "domain.yml": """
        version: "3.1"
        intents: [greet]
        actions: [action_hello]
        session_config:
          session_expiration_time: 60
          carry_over_slots_to_new_session: true
    """,
    "data/nlu.yml": """
        version: "3.1"
        nlu:
          - intent: greet
            examples: |
              - hello
              - hi
    """,
    "data/rules.yml": """
        version: "3.1"
        rules:
          - rule: greet
            steps: [{intent: greet}, {action: action_hello}]
    """,
    "actions/__init__.py": "",
    "actions/hello.py": """
        from rasa_sdk import Action

        class Hello(Action):
            def name(self):
                return "action_hello"

            def run(self, dispatcher, tracker, domain):
                dispatcher.utter_message(text=f"hello from the action server to {tracker.sender_id}")
                return []
    """,
}


def _materialise(folder: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    (folder / "credentials.yml").write_text((REPO_ROOT / "credentials.yml").read_text())
    (folder / "endpoints.yml").write_text((REPO_ROOT / "endpoints.yml").read_text())
    return folder


def _launch(project: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    ports = ["--web-port", str(_free_port()), "--rasa-port", str(_free_port()), "--actions-port", str(_free_port())]
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--project", str(project), "--skip-build", *ports, *extra],
        cwd=REPO_ROOT, env=env or _clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )


def _latest_run(project: Path) -> Path:
    return (project / "var" / "runs" / "latest").resolve()


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory) -> Path:
    return _materialise(tmp_path_factory.mktemp("tiny-project"), TINY_PROJECT)


@pytest.mark.e2e
@pytest.mark.slow
def test_cold_then_warm_start(tiny_project):
    cold = _launch(tiny_project, "--check")
    output, _ = cold.communicate(timeout=600)
    assert cold.returncode == 0, output
    run = _latest_run(tiny_project)
    assert "Rasa model: training" in output
    assert (tiny_project / "models" / "assistant.tar.gz").is_file()
    assert (run / "train.log").is_file()
    for name in ("actions", "rasa", "web"):
        assert (run / f"{name}.log").stat().st_size > 0, name
    assert re.search(r"Web chat: +http://127\.0\.0\.1:\d+", output)

    warm = _launch(tiny_project, "--check")
    output, _ = warm.communicate(timeout=600)
    assert warm.returncode == 0, output
    assert "is up to date with config, domain and data" in output
    assert not (_latest_run(tiny_project) / "train.log").exists(), "the warm start trained again"


@pytest.mark.e2e
@pytest.mark.slow
def test_ctrl_c_stops_every_process(tiny_project):
    launcher = _launch(tiny_project)
    lines = [_wait_ready(launcher)]
    run = _latest_run(tiny_project)
    pids = json.loads((run / "pids.json").read_text())
    assert set(pids) == {"launcher", "actions", "rasa", "web"}
    assert all(_alive(pid) for pid in pids.values())

    # The message goes through the Rasa server to the action server and back.
    import urllib.request

    rest = re.search(r"Rasa REST: +(\S+)", "".join(lines)).group(1)
    request = urllib.request.Request(rest, data=json.dumps({"sender": "tester-1", "message": "hello"}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        replies = json.loads(response.read())
    assert replies == [{"recipient_id": "tester-1", "text": "hello from the action server to tester-1"}]

    # Without BOT_AUTH_TOKEN the HTTP API is not there at all.
    base = rest.split("/webhooks/")[0]
    for path in ("/conversations/tester-1/tracker", "/status"):
        assert _status(base + path) == 404, path

    # Browsers may call Rasa from the web chat's origin only.
    web = re.search(r"Web chat: +(\S+)", "".join(lines)).group(1)
    assert _allowed_origin(rest, web) == web
    assert _allowed_origin(rest, "http://elsewhere.example") is None

    launcher.send_signal(signal.SIGINT)
    rest_of_output, _ = launcher.communicate(timeout=60)
    assert launcher.returncode == 0, rest_of_output
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [name for name, pid in pids.items() if _alive(pid)] == []


def _status(url: str, timeout: float = 30) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _allowed_origin(url: str, origin: str) -> str | None:
    """Send a CORS preflight for a JSON POST from ``origin``; return the origin the server allows."""
    import urllib.request

    request = urllib.request.Request(url, method="OPTIONS", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type",
    })
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.headers.get("Access-Control-Allow-Origin")


@pytest.mark.e2e
@pytest.mark.slow
def test_http_api_needs_token(tiny_project):
    token = "launcher-test-token"
    launcher = _launch(tiny_project, env=_clean_env(BOT_AUTH_TOKEN=token))
    try:
        output = _wait_ready(launcher)
        base = re.search(r"Rasa REST: +(\S+)", output).group(1).split("/webhooks/")[0]
        assert "Rasa HTTP API:  on" in output
        assert _status(f"{base}/conversations/someone/tracker") == 401
        assert _status(f"{base}/conversations/someone/tracker?token=wrong") == 401
        assert _status(f"{base}/conversations/someone/tracker?token={token}") == 200
    finally:
        launcher.send_signal(signal.SIGINT)
        launcher.communicate(timeout=60)
    assert launcher.returncode == 0


def _wait_ready(launcher: subprocess.Popen, timeout: float = 600) -> str:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert launcher.stdout is not None
    for line in launcher.stdout:
        lines.append(line)
        if line.startswith("Press Ctrl-C to stop."):
            return "".join(lines)
        assert time.monotonic() < deadline, "".join(lines)
    pytest.fail("the launcher exited before it was ready:\n" + "".join(lines))


@pytest.mark.e2e
@pytest.mark.slow
def test_broken_action_server_is_reported(tiny_project, tmp_path):
    broken = _materialise(tmp_path / "broken", {
        **TINY_PROJECT, "actions/hello.py": "raise RuntimeError('the engine artefacts are missing')\n",
    })
    launcher = _launch(broken, "--model-dir", str(tiny_project / "models"), "--check")
    output, _ = launcher.communicate(timeout=600)
    assert launcher.returncode == 1, output
    run = _latest_run(broken)
    assert "The action server failed to start" in output
    assert str(run / "actions.log") in output
    assert "the engine artefacts are missing" in output


# ---- web chat server -------------------------------------------------------------------------------


@pytest.fixture
def web_server():
    import threading

    from bot.webserver import make_server

    server = make_server("127.0.0.1", 0, rasa_port=5999)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _get(url: str, headers: dict | None = None):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_web_server_config_and_page(web_server):
    status, headers, body = _get(f"{web_server}/config.json")
    assert status == 200
    assert json.loads(body) == {"rasa_port": 5999, "rasa_url": None, "rest_path": "/webhooks/rest/webhook"}
    status, headers, body = _get(f"{web_server}/")
    assert status == 200
    assert b'<script src="chat.js" defer></script>' in body
    assert headers["Cache-Control"] == "no-cache"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_web_server_policy_names_rasa_on_page_host(web_server):
    port = web_server.rsplit(":", 1)[1]
    _, headers, _ = _get(f"{web_server}/", headers={"Host": f"localhost:{port}"})
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self' http://localhost:5999 ws://localhost:5999" in policy
    assert "unsafe-inline" not in policy


def test_web_server_hides_other_files(web_server):
    assert _get(f"{web_server}/nonexistent/")[0] == 404
    assert _get(f"{web_server}/../launcher.py")[0] == 404
    assert _get(f"{web_server}/static/")[0] == 404
