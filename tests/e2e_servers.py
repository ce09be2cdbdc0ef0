"""Start the assistant for end-to-end tests: train if needed, run both servers on loopback, stop them.

:func:`ensure_model` trains the Rasa model into ``models/assistant.tar.gz`` only when its inputs
changed, sharing the launcher's fingerprint and lock (``bot.training``), so the tests and
``python -m bot`` never train the same model twice. :func:`running_servers` starts the action
server and a Rasa server on free ports of 127.0.0.1 with their own ratings database and SQLite
tracker store in a temporary folder, waits until both answer, and stops both on exit.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from recengine.config import REPO_ROOT

__all__ = ["Servers", "ensure_model", "running_servers", "free_port", "MODEL_DIR", "MODEL_NAME"]

MODEL_DIR = REPO_ROOT / "models"
MODEL_NAME = "assistant"
PYTHON = str(REPO_ROOT / ".venv" / "bin" / "python") if (REPO_ROOT / ".venv" / "bin" / "python").is_file() else sys.executable


def _quiet_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra or {})
    return env


def ensure_model(log_path: Path, timeout: float = 3600) -> Path:
    """Train the Rasa model unless it is up to date with config, domain and data; return its path."""
    from bot.training import ModelInputs, fingerprint, is_up_to_date, record_fingerprint, training_command

    inputs = ModelInputs(project=REPO_ROOT, model_dir=MODEL_DIR, model_name=MODEL_NAME)
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    with open(MODEL_DIR / f"{MODEL_NAME}.train.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if is_up_to_date(inputs):
                return inputs.model_path
            current = fingerprint(inputs)
            command = ["nice", "-n", "10", *training_command(PYTHON, inputs)]
            with open(log_path, "w") as log_file:
                completed = subprocess.run(command, cwd=REPO_ROOT, env=_quiet_env(), stdout=log_file,
                                           stderr=subprocess.STDOUT, timeout=timeout)
            if completed.returncode != 0 or not inputs.model_path.is_file():
                raise RuntimeError(f"rasa train failed with exit status {completed.returncode}; see {log_path}")
            record_fingerprint(inputs, current)
            return inputs.model_path
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Servers:
    """Addresses and files of one running pair of servers."""

    rasa_url: str
    actions_url: str
    database_url: str
    log_dir: Path

    def send(self, sender: str, message: str, timeout: float = 120) -> list[dict[str, Any]]:
        """Send one message over the REST channel and return the bot's replies."""
        body = json.dumps({"sender": sender, "message": message}).encode()
        request = urllib.request.Request(f"{self.rasa_url}/webhooks/rest/webhook", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode() or "[]")


def _wait_until_up(url: str, process: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with status {process.returncode} before answering; see {log_path}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s; see {log_path}")


def _stop(process: subprocess.Popen, grace: float = 20) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(grace)


@contextlib.contextmanager
def running_servers(work_dir: Path, model: Path, startup_timeout: float = 600) -> Iterator[Servers]:
    """Run the action server and a Rasa server on loopback for the duration of the block."""
    work_dir.mkdir(parents=True, exist_ok=True)
    actions_port, rasa_port = free_port(), free_port()
    database_url = f"sqlite:///{work_dir / 'ratings.db'}"
    actions_url = f"http://127.0.0.1:{actions_port}"
    (work_dir / "endpoints.yml").write_text(
        f"action_endpoint:\n  url: \"{actions_url}/webhook\"\n"
        f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {work_dir / 'tracker.db'}\n"
    )
    (work_dir / "credentials.yml").write_text("rest:\n")
    env = _quiet_env({"RECENGINE_DATABASE_URL": database_url})
    processes: list[subprocess.Popen] = []
    try:
        actions_log = work_dir / "actions.log"
        processes.append(subprocess.Popen(
            [PYTHON, "-m", "rasa_sdk", "--actions", "actions", "--port", str(actions_port)],
            cwd=REPO_ROOT, env=env, stdout=open(actions_log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
        ))
        rasa_log = work_dir / "rasa.log"
        processes.append(subprocess.Popen(
            [PYTHON, "-m", "rasa", "run", "--model", str(model), "--endpoints", str(work_dir / "endpoints.yml"),
             "--credentials", str(work_dir / "credentials.yml"), "--interface", "127.0.0.1", "--port", str(rasa_port)],
            cwd=REPO_ROOT, env=env, stdout=open(rasa_log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
        ))
        _wait_until_up(f"{actions_url}/health", processes[0], actions_log, startup_timeout)
        _wait_until_up(f"http://127.0.0.1:{rasa_port}/", processes[1], rasa_log, startup_timeout)
        yield Servers(f"http://127.0.0.1:{rasa_port}", actions_url, database_url, work_dir)
    finally:
        for process in reversed(processes):
            _stop(process)
