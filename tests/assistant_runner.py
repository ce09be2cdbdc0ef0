"""Start the whole assistant with ``python -m bot`` for a test, on free ports and private stores.

Used by the web chat, callback channel and scale-out tests. Each gets a launcher run of its own,
with the ratings database and the tracker store in the test's temporary folder. The Rasa model is
shared through ``models/``: trained once, then reused while config, domain and data are unchanged.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_LINE = "Press Ctrl-C to stop."

# Variables of the developer's shell that would change what the launcher starts.
_LAUNCHER_VARIABLES = ("BOT_", "TELEGRAM_", "SLACK_", "FACEBOOK_")


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 now and outside the kernel's ephemeral range.

    Rasa binds its port only after loading the model, minutes later. A port from the ephemeral
    range (what binding port 0 returns) can meanwhile be taken by any outgoing connection, such as
    Rasa's own to PostgreSQL, so the ports come from below that range.
    """
    low, _ = _ephemeral_range()
    candidates = list(range(max(1024, low - 12000), low))
    random.SystemRandom().shuffle(candidates)
    for port in candidates:
        if not _busy(port):
            return port
    raise RuntimeError(f"no free TCP port between {low - 12000} and {low}")


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def require_assistant() -> None:
    """Skip when the checkout has no Rasa assistant to start (domain, data and actions)."""
    missing = [name for name in ("config.yml", "domain.yml", "data", "actions/__init__.py")
               if not (REPO_ROOT / name).exists()]
    if missing:
        pytest.skip(f"the Rasa assistant is not in this checkout (missing: {', '.join(missing)})")


@dataclass
class RunningAssistant:
    """A launcher run in the background and the addresses it printed."""

    process: subprocess.Popen
    rasa_port: int
    web_port: int
    env: dict[str, str] = field(default_factory=dict)
    """The launcher's environment: RECENGINE_DATABASE_URL names the ratings database, BOT_AUTH_TOKEN the token."""
    output: list[str] = field(default_factory=list)

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def text(self) -> str:
        return "".join(self.output)

    def run_dir(self) -> Path:
        for line in self.output:
            if line.strip().startswith("Logs:"):
                return Path(line.split("Logs:", 1)[1].strip())
        raise AssertionError("the launcher printed no run folder:\n" + self.text)

    def send(self, sender: str, message: str, base_url: str | None = None, timeout: float = 120) -> list[dict]:
        """Send one message over the REST channel and return the bot's replies."""
        return post_json(f"{base_url or self.rasa_url}/webhooks/rest/webhook", {"sender": sender, "message": message},
                         timeout=timeout)

    def stop(self) -> None:
        """Stop the launcher as Ctrl-C does and wait for it (and so for its servers)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


def post_json(url: str, payload: dict, timeout: float = 120, headers: dict | None = None):
    """POST JSON and return the decoded JSON response (or its text when it is not JSON)."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read().decode()
    try:
        return json.loads(body)
    except ValueError:
        return body


def get_status(url: str, timeout: float = 30) -> tuple[int, bytes]:
    """GET a URL and return the HTTP status and body, also for error statuses."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def start_assistant(tmp_path: Path, *args: str, env: dict[str, str] | None = None, project: Path = REPO_ROOT,
                    rasa_servers: int = 1, timeout: float = 1800) -> RunningAssistant:
    """Start ``python -m bot`` and wait until it prints that it is ready; fail with its output if not.

    The ratings database and the tracker store go to ``tmp_path`` unless ``env`` names others.
    """
    rasa_port = free_port()
    while rasa_servers > 1 and any(_busy(rasa_port + offset) for offset in range(1, rasa_servers + 1)):
        rasa_port = free_port()
    web_port = free_port()
    child_env = {name: value for name, value in os.environ.items() if not name.startswith(_LAUNCHER_VARIABLES)}
    child_env.update({
        "RECENGINE_DATABASE_URL": f"sqlite:///{tmp_path / 'ratings.db'}",
        "BOT_TRACKER_STORE_URL": f"sqlite:///{tmp_path / 'tracker.db'}",
        "PYTHONUNBUFFERED": "1",
    })
    child_env.update(env or {})
    command = [
        sys.executable, "-m", "bot", "--project", str(project),
        "--web-port", str(web_port), "--rasa-port", str(rasa_port), "--actions-port", str(free_port()),
        "--runs-dir", str(tmp_path / "runs"), "--model-dir", str(project / "models"),
        "--rasa-servers", str(rasa_servers), *args,
    ]
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=child_env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    running = RunningAssistant(process=process, rasa_port=rasa_port, web_port=web_port, env=child_env)
    ready = threading.Event()
    announced = threading.Event()

    def read_output() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            running.output.append(line)
            if line.startswith(READY_LINE):
                announced.set()
                ready.set()
        ready.set()

    threading.Thread(target=read_output, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(timeout=1):
        if time.monotonic() > deadline:
            running.stop()
            pytest.fail(f"the launcher was not ready within {timeout:.0f} s:\n{running.text}")
    if not announced.is_set():
        # The output ended, so the launcher is exiting; wait for its status.
        process.wait(timeout=120)
        pytest.fail(f"the launcher exited with status {process.returncode} before it was ready:\n{running.text}")
    return running


def _busy(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False
