"""Start, watch and stop the assistant's server processes.

Each child runs in its own process group (a new session), so Ctrl-C in the terminal reaches only
the launcher, which then stops every group in turn: SIGTERM first, SIGKILL after a grace period.
On Linux each child also asks the kernel for SIGTERM when the launcher dies, so a launcher killed
with SIGKILL leaves no server behind. Every child writes stdout and stderr to its own log file.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

__all__ = ["ProcessSpec", "ManagedProcess", "StartError", "log_tail", "port_in_use", "wait_until_healthy"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ProcessSpec:
    """How to run one server and how to tell that it is ready."""

    name: str
    """Short name, also the log file's stem: ``actions``, ``rasa``, ``web``."""
    label: str
    """Name shown to people: ``action server``."""
    command: list[str]
    log_path: Path
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    """The whole environment of the child (not added to the launcher's)."""
    health_url: str | None = None
    """URL that returns HTTP 200 once the server accepts requests."""
    health_check: Callable[[bytes], bool] | None = None
    """Extra test on the health response body; None accepts any body."""
    start_timeout: float = 120.0
    """Seconds to wait for the health check before giving up."""


class StartError(RuntimeError):
    """A child process exited or timed out during start-up; the message names it and its log."""

    def __init__(self, spec: ProcessSpec, reason: str, tail: str, failure: str = "failed to start"):
        self.spec = spec
        self.reason = reason
        self.tail = tail
        message = f"The {spec.label} {failure}: {reason}. Its log is {spec.log_path}"
        if tail:
            message += f"; the last lines:\n{tail}"
        super().__init__(message)


def log_tail(path: Path, lines: int = 20) -> str:
    """Return the last ``lines`` lines of a log file, or an empty string when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip()
    except OSError:
        return ""


def port_in_use(host: str, port: int) -> bool:
    """Return True when ``host:port`` cannot be bound because another socket is bound to it."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR as servers use it, so a port in TIME_WAIT after a previous run counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM to this child when the launcher exits, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # without prctl the launcher's own shutdown still stops the child


class ManagedProcess:
    """One child process in its own process group, with its output in a log file."""

    def __init__(self, spec: ProcessSpec):
        self.spec = spec
        self._process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has ended, else None."""
        return self._process.poll() if self._process else None

    def start(self) -> None:
        """Start the process with its output appended to its log file."""
        self.spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.spec.log_path, "ab") as log_file:
            log_file.write(f"$ {' '.join(self.spec.command)}\n".encode())
            log_file.flush()
            self._process = subprocess.Popen(
                self.spec.command,
                cwd=self.spec.cwd,
                env=self.spec.env or None,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        log.info("Started the %s (pid %d), logging to %s", self.spec.label, self._process.pid, self.spec.log_path)

    def is_healthy(self) -> bool:
        """Return True when the health URL returns 200 (and the body passes the check)."""
        if self.spec.health_url is None:
            return self.returncode is None
        try:
            with urllib.request.urlopen(self.spec.health_url, timeout=2) as response:
                body = response.read()
                if response.status != 200:
                    return False
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False
        return self.spec.health_check(body) if self.spec.health_check else True

    def failure(self) -> StartError | None:
        """Return a StartError when the process has exited, else None."""
        code = self.returncode
        if code is None:
            return None
        return StartError(self.spec, f"it exited with status {code}", log_tail(self.spec.log_path))

    def stop(self, grace: float = 30.0) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after ``grace`` seconds."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log.warning("The %s did not stop within %.0f s of SIGTERM; sending SIGKILL", self.spec.label, grace)
                self._signal_group(signal.SIGKILL)
                process.wait(timeout=grace)
        # Members of the group that outlived its leader (helpers it forked) get the same treatment.
        self._signal_group(signal.SIGKILL)
        log.info("Stopped the %s (pid %d, status %s)", self.spec.label, process.pid, process.returncode)

    def _signal_group(self, signum: int) -> None:
        assert self._process is not None
        try:
            os.killpg(self._process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass  # the group is already empty


def wait_until_healthy(processes: list[ManagedProcess], should_stop: Callable[[], bool] = lambda: False) -> None:
    """Wait until every process passes its health check; raise StartError for the first that fails."""
    started = time.monotonic()
    pending = list(processes)
    while pending:
        for process in list(pending):
            error = process.failure()
            if error is not None:
                raise error
            if process.is_healthy():
                log.info("The %s is ready (%.1f s)", process.spec.label, time.monotonic() - started)
                pending.remove(process)
            elif time.monotonic() - started > process.spec.start_timeout:
                raise StartError(
                    process.spec,
                    f"no answer from {process.spec.health_url} within {process.spec.start_timeout:.0f} s",
                    log_tail(process.spec.log_path),
                )
        if pending:
            if should_stop():
                return
            time.sleep(0.5)

