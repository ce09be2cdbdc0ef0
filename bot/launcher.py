"""One command from a checkout to a running assistant: ``python -m bot``.

Steps, each skipped when its inputs have not changed:

1. data and engine artefacts: ``python -m recengine build`` finds the dataset (the offline
   mirror when present, else GroupLens) and builds what is missing or stale under ``models/``;
2. the Rasa model: trained only when ``config.yml``, the domain or ``data/`` changed
   (see :mod:`bot.training`);
3. the action server, the Rasa server (REST, socket.io and callback channels, plus any messaging
   channel whose variables are set) and the web chat, each in its own process group, each
   logging to ``var/runs/<timestamp>/<name>.log``;
4. health checks with time limits, then the web chat's address.

Ctrl-C or SIGTERM stops every child. A child that fails to start, or stops later, is named
with its log file and the log's last lines, and the others are stopped.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from bot.processes import ManagedProcess, ProcessSpec, StartError, log_tail, port_in_use, wait_until_healthy
from bot.runconfig import ConfigError, compose_run_config, write_yaml
from bot.training import ModelInputs, fingerprint, is_up_to_date, record_fingerprint, training_command

__all__ = ["LauncherOptions", "Launcher", "parse_options", "main", "AUTH_TOKEN_VARIABLE"]

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent

AUTH_TOKEN_VARIABLE = "BOT_AUTH_TOKEN"
CORS_VARIABLE = "BOT_CORS_ORIGINS"
PUBLIC_RASA_URL_VARIABLE = "BOT_PUBLIC_RASA_URL"
KEEP_RUNS = 20
"""Run folders kept under the runs folder; older ones are deleted at start."""


class _Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; a BaseException so that no ``except Exception`` swallows it."""


@dataclass(frozen=True)
class LauncherOptions:
    """Everything one run needs, from the command line and the environment."""

    project: Path = REPO_ROOT
    """Folder with config.yml, domain.yml, data/, actions/, credentials.yml and endpoints.yml."""
    host: str = "127.0.0.1"
    """Interface for the web chat and the Rasa server; the action server always stays on 127.0.0.1."""
    web_port: int = 8080
    rasa_port: int = 5005
    """Port of the Rasa server, or of the round-robin proxy when ``rasa_servers`` > 1."""
    actions_port: int = 5055
    rasa_servers: int = 1
    """Number of Rasa servers. More than one needs a shared SQL tracker store and a Redis lock store;
    the servers then take the ports after ``rasa_port``, behind a round-robin proxy on ``rasa_port``."""
    runs_dir: Path = REPO_ROOT / "var" / "runs"
    model_dir: Path = REPO_ROOT / "models"
    model_name: str = "assistant"
    dataset: str | None = None
    """Dataset for the engine; None keeps RECENGINE_DATASET or its default."""
    build: bool = True
    """Run ``python -m recengine build`` before starting (skipped artefacts cost a second or two)."""
    force_train: bool = False
    check_only: bool = False
    """Stop everything once all health checks pass (for tests and start-up timing)."""
    start_timeout: float = 300.0
    """Seconds each server may take to pass its health check."""
    build_timeout: float = 3600.0
    """Seconds the artefact build and the Rasa training may each take."""
    auth_token: str | None = None
    """Token for Rasa's HTTP API; the API stays off without one."""
    cors_origins: tuple[str, ...] = ()
    """Extra origins allowed to call the Rasa server, besides the web chat's own."""
    public_rasa_url: str | None = None
    """Rasa's address as the browser sees it, when not the web chat's host with ``rasa_port``."""
    python: str = sys.executable
    extra_env: dict[str, str] = field(default_factory=dict)
    """Variables added to every child's environment (tests use it for isolated settings)."""

    @property
    def web_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.web_port}"

    @property
    def rasa_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.rasa_port}"

    @property
    def rasa_server_ports(self) -> list[int]:
        """Ports of the Rasa servers themselves."""
        if self.rasa_servers == 1:
            return [self.rasa_port]
        return [self.rasa_port + offset for offset in range(1, self.rasa_servers + 1)]

    @property
    def actions_url(self) -> str:
        return f"http://127.0.0.1:{self.actions_port}/webhook"

    def allowed_origins(self) -> list[str]:
        """Return the origins the Rasa server accepts browser requests from."""
        origins = [self.web_url]
        if self.host in ("127.0.0.1", "localhost", "0.0.0.0", "::1", "::"):
            origins += [f"http://localhost:{self.web_port}", f"http://127.0.0.1:{self.web_port}"]
        origins += list(self.cors_origins)
        return list(dict.fromkeys(origins))


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (1-65535)")
    return value


def parse_options(argv: list[str] | None = None, env: Mapping[str, str] = os.environ) -> LauncherOptions:
    """Read the command line (and the BOT_* variables it falls back to) into LauncherOptions."""
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description=(
            "Build what is missing, then start the action server, the Rasa server and the web chat, "
            "and print the chat's address. Ctrl-C stops everything."
        ),
        epilog=(
            f"Environment: {AUTH_TOKEN_VARIABLE} turns on Rasa's HTTP API with that token; "
            f"{CORS_VARIABLE} adds allowed origins (comma-separated); {PUBLIC_RASA_URL_VARIABLE} is Rasa's "
            "address as browsers see it; BOT_CALLBACK_URL, BOT_TRACKER_STORE_URL, BOT_LOCK_STORE_URL and the "
            "messaging channels' variables are described in the README."
        ),
    )
    parser.add_argument("--host", default=env.get("BOT_HOST", "127.0.0.1"),
                        help="interface for the web chat and the Rasa server (default: %(default)s, only this machine)")
    parser.add_argument("--web-port", type=_port, default=int(env.get("BOT_WEB_PORT", 8080)),
                        help="port of the web chat (default: %(default)s)")
    parser.add_argument("--rasa-port", type=_port, default=int(env.get("BOT_RASA_PORT", 5005)),
                        help="port of the Rasa server (default: %(default)s)")
    parser.add_argument("--actions-port", type=_port, default=int(env.get("BOT_ACTIONS_PORT", 5055)),
                        help="port of the action server, on 127.0.0.1 (default: %(default)s)")
    parser.add_argument("--rasa-servers", type=int, default=1, metavar="N",
                        help="start N Rasa servers behind a round-robin proxy on --rasa-port; N > 1 needs "
                             "BOT_TRACKER_STORE_URL (PostgreSQL) and BOT_LOCK_STORE_URL (Redis) (default: 1)")
    parser.add_argument("--dataset", default=None,
                        help="dataset name or path for the engine (default: RECENGINE_DATASET or ml-latest-small)")
    parser.add_argument("--project", type=Path, default=REPO_ROOT,
                        help="Rasa project folder (default: the repository)")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="where the Rasa model is kept (default: <project>/models)")
    parser.add_argument("--runs-dir", type=Path, default=None,
                        help="folder for the per-run log folders (default: <project>/var/runs)")
    parser.add_argument("--skip-build", action="store_true", help="do not run the engine's artefact build")
    parser.add_argument("--force-train", action="store_true", help="train the Rasa model even when its inputs are unchanged")
    parser.add_argument("--check", action="store_true",
                        help="start everything, wait for the health checks, then stop (exit status 0 when all started)")
    parser.add_argument("--start-timeout", type=float, default=300.0,
                        help="seconds each server may take to become ready (default: %(default)s)")
    args = parser.parse_args(argv)
    if not 1 <= args.rasa_servers <= 16:
        parser.error(f"--rasa-servers must be between 1 and 16, not {args.rasa_servers}")

    project = args.project.resolve()
    cors = tuple(origin.strip() for origin in env.get(CORS_VARIABLE, "").split(",") if origin.strip())
    return LauncherOptions(
        project=project,
        host=args.host,
        web_port=args.web_port,
        rasa_port=args.rasa_port,
        actions_port=args.actions_port,
        rasa_servers=args.rasa_servers,
        runs_dir=(args.runs_dir or project / "var" / "runs").resolve(),
        model_dir=(args.model_dir or project / "models").resolve(),
        dataset=args.dataset,
        build=not args.skip_build,
        force_train=args.force_train,
        check_only=args.check,
        start_timeout=args.start_timeout,
        auth_token=env.get(AUTH_TOKEN_VARIABLE, "").strip() or None,
        cors_origins=cors,
        public_rasa_url=env.get(PUBLIC_RASA_URL_VARIABLE, "").strip() or None,
    )


def _create_run_dir(runs_dir: Path) -> Path:
    """Create ``<runs>/<timestamp>`` (with a suffix when two runs start in the same second)."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(1, 100):
        run_dir = runs_dir / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise RuntimeError(f"Could not create a new run folder under {runs_dir}: 99 folders named {stamp}-N exist.")


def _prune_runs(runs_dir: Path, keep: int, current: Path) -> None:
    import shutil

    runs = sorted((path for path in runs_dir.iterdir() if path.is_dir() and not path.is_symlink()), key=lambda p: p.name)
    for old in runs[:-keep]:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)


def _point_latest(runs_dir: Path, run_dir: Path) -> None:
    latest = runs_dir / "latest"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(run_dir.name)
    except OSError:
        pass  # a convenience only; file systems without symlinks skip it


class Launcher:
    """Runs the steps of one start-up and supervises the servers until asked to stop."""

    def __init__(self, options: LauncherOptions, env: Mapping[str, str] | None = None):
        self.options = options
        self.base_env = dict(os.environ if env is None else env)
        self.run_dir: Path | None = None
        self.servers: list[ManagedProcess] = []
        self._stepping: ManagedProcess | None = None

    # ---- environment ---------------------------------------------------------------------------

    def _child_env(self, **extra: str) -> dict[str, str]:
        env = dict(self.base_env)
        env.update(self.options.extra_env)
        env["PYTHONUNBUFFERED"] = "1"
        # The servers must not try to reach Rasa's telemetry service from a machine that is offline.
        env.setdefault("RASA_TELEMETRY_ENABLED", "false")
        if self.options.dataset:
            env["RECENGINE_DATASET"] = self.options.dataset
        # The project (for `actions`) and this repository (for `bot` and `recengine`) on the path, so
        # both import without installing.
        paths = dict.fromkeys([str(self.options.project), str(REPO_ROOT), env.get("PYTHONPATH", "")])
        env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
        env.update(extra)
        return env

    # ---- steps -----------------------------------------------------------------------------------

    def run(self) -> int:
        """Start everything and supervise it; return the process exit status."""
        options = self.options
        started = time.monotonic()
        self.run_dir = _create_run_dir(options.runs_dir)
        _prune_runs(options.runs_dir, KEEP_RUNS, self.run_dir)
        _point_latest(options.runs_dir, self.run_dir)
        file_handler = logging.FileHandler(self.run_dir / "launcher.log")
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(file_handler)
        log.info("Run folder: %s", self.run_dir)

        try:
            self._check_ports()
            run_config = self._compose_config()
            if options.build:
                self._build_artefacts()
            self._train_model()
            # Training can take minutes, long enough for another program to take a port.
            self._check_ports()
            self._start_servers(run_config)
            seconds = time.monotonic() - started
            (self.run_dir / "pids.json").write_text(json.dumps(
                {"launcher": os.getpid(), **{server.spec.name: server.pid for server in self.servers}}, indent=2))
            self._announce(seconds)
            if options.check_only:
                log.info("All servers passed their health checks; stopping because of --check.")
                return 0
            return self._supervise()
        except StartError as error:
            log.error("%s", error)
            return 1
        except ConfigError as error:
            log.error("Configuration error: %s", error)
            return 2
        except _Interrupted:
            log.info("Interrupted; stopping.")
            return 0
        finally:
            self.stop()
            logging.getLogger().removeHandler(file_handler)
            file_handler.close()

    def _check_ports(self) -> None:
        options = self.options
        wanted = [("web chat", options.host, options.web_port, "--web-port"),
                  ("action server", "127.0.0.1", options.actions_port, "--actions-port")]
        if options.rasa_servers > 1:
            wanted.append(("round-robin proxy", options.host, options.rasa_port, "--rasa-port"))
        wanted += [("Rasa server", options.host, port, "--rasa-port") for port in options.rasa_server_ports]
        ports = [port for _, _, port, _ in wanted]
        if len(set(ports)) != len(ports):
            raise ConfigError(f"the web chat, Rasa, proxy and action server ports must all differ; got {ports}.")
        for label, host, port, flag in wanted:
            if port_in_use(host, port):
                raise ConfigError(
                    f"port {port} on {host} for the {label} is already in use (another run of this launcher?): "
                    f"stop that process or choose another port with {flag}."
                )

    def _compose_config(self):
        options = self.options
        assert self.run_dir is not None
        env = self._child_env()
        run_config = compose_run_config(
            options.project / "credentials.yml", options.project / "endpoints.yml", env, options.actions_url
        )
        if options.rasa_servers > 1:
            _require_shared_stores(run_config.endpoints, options.rasa_servers)
        write_yaml(run_config.credentials, self.run_dir / "credentials.yml")
        write_yaml(run_config.endpoints, self.run_dir / "endpoints.yml")
        log.info("Channels: %s", ", ".join(run_config.channels))
        for note in run_config.notes:
            log.info("  %s", note)
        return run_config

    def _run_step(self, name: str, label: str, command: list[str], timeout: float) -> None:
        """Run a one-off child (build, training) to completion, logging a heartbeat while it runs."""
        assert self.run_dir is not None
        spec = ProcessSpec(name=name, label=label, command=command, log_path=self.run_dir / f"{name}.log",
                           cwd=self.options.project, env=self._child_env())
        step = ManagedProcess(spec)
        self._stepping = step
        started = time.monotonic()
        step.start()
        try:
            next_note = started + 30
            while step.returncode is None:
                if time.monotonic() - started > timeout:
                    step.stop()
                    raise StartError(spec, f"it did not finish within {timeout:.0f} s", log_tail(spec.log_path), "failed")
                if time.monotonic() > next_note:
                    log.info("  still running (%.0f s so far; log: %s)", time.monotonic() - started, spec.log_path)
                    next_note += 30
                time.sleep(0.2)
        finally:
            if step.returncode is None:
                step.stop()
            self._stepping = None
        if step.returncode != 0:
            raise StartError(spec, f"it exited with status {step.returncode}", log_tail(spec.log_path), "failed")
        log.info("  done in %.1f s", time.monotonic() - started)

    def _build_artefacts(self) -> None:
        assert self.run_dir is not None
        log.info("Data and engine artefacts (log: %s)", self.run_dir / "build.log")
        command = [self.options.python, "-m", "recengine", "-v", "build"]
        if self.options.dataset:
            command.append(self.options.dataset)
        self._run_step("build", "artefact build (python -m recengine build)", command, self.options.build_timeout)
        for line in log_tail(self.run_dir / "build.log", 30).splitlines():
            # The build command prints one "<artefact> <outcome>" line per artefact at the end.
            if line and not line.startswith(("$", " ")) and ("up to date" in line or "built in" in line):
                log.info("  %s", " ".join(line.split()))

    def _train_model(self) -> None:
        options = self.options
        inputs = ModelInputs(project=options.project, model_dir=options.model_dir, model_name=options.model_name)
        if not inputs.config.is_file():
            raise ConfigError(f"{inputs.config} is missing, so there is no Rasa project to train in {options.project}.")
        options.model_dir.mkdir(parents=True, exist_ok=True)
        # Two launchers (or test runs) sharing models/ must not write the same model at once.
        with _exclusive_lock(options.model_dir / f"{options.model_name}.train.lock", "the Rasa model"):
            current = fingerprint(inputs)
            if not options.force_train and is_up_to_date(inputs):
                log.info("Rasa model: %s is up to date with config, domain and data", inputs.model_path)
                return
            assert self.run_dir is not None
            log.info("Rasa model: training %s (log: %s)", inputs.model_path, self.run_dir / "train.log")
            self._run_step("train", "Rasa training (rasa train)", training_command(options.python, inputs),
                           options.build_timeout)
            if not inputs.model_path.is_file():
                raise StartError(
                    ProcessSpec("train", "Rasa training", [], self.run_dir / "train.log", options.project),
                    f"it finished without writing {inputs.model_path}", log_tail(self.run_dir / "train.log"), "failed",
                )
            record_fingerprint(inputs, current)

    def _rasa_spec(self, run_config, port: int, name: str, label: str) -> ProcessSpec:
        options = self.options
        assert self.run_dir is not None
        model = ModelInputs(options.project, options.model_dir, options.model_name).model_path
        command = [
            options.python, "-m", "rasa", "run",
            "--model", str(model),
            "--endpoints", str(self.run_dir / "endpoints.yml"),
            "--credentials", str(self.run_dir / "credentials.yml"),
            "--interface", options.host,
            "--port", str(port),
            "--cors", *options.allowed_origins(),
        ]
        if options.auth_token:
            # NOTE: Rasa 3.6 takes the token only as a command-line argument, so local users who can
            # list processes can read it. Run the launcher under its own account where that matters.
            command += ["--enable-api", "--auth-token", options.auth_token]
        return ProcessSpec(
            name=name, label=label, command=command,
            log_path=self.run_dir / f"{name}.log", cwd=options.project,
            env=self._child_env(**run_config.child_env),
            # The REST channel's own health route exists only once the model is loaded and the
            # channel is mounted.
            health_url=f"http://{_url_host(options.host)}:{port}/webhooks/rest/",
            health_check=lambda body: b'"ok"' in body,
            start_timeout=options.start_timeout,
        )

    def _server_specs(self, run_config) -> list[ProcessSpec]:
        options = self.options
        assert self.run_dir is not None
        if options.rasa_servers == 1:
            rasa_specs = [self._rasa_spec(run_config, options.rasa_port, "rasa", "Rasa server")]
        else:
            rasa_specs = [
                self._rasa_spec(run_config, port, f"rasa-{number}", f"Rasa server {number} (port {port})")
                for number, port in enumerate(options.rasa_server_ports, start=1)
            ]
            upstreams = [f"http://{_url_host(options.host)}:{port}" for port in options.rasa_server_ports]
            rasa_specs.append(ProcessSpec(
                name="proxy", label="round-robin proxy",
                command=[options.python, "-m", "bot.proxy", "--host", options.host, "--port", str(options.rasa_port),
                         *upstreams],
                log_path=self.run_dir / "proxy.log", cwd=REPO_ROOT, env=self._child_env(),
                health_url=f"{options.rasa_url}/webhooks/rest/",
                health_check=lambda body: b'"ok"' in body,
                start_timeout=options.start_timeout,
            ))
        web_command = [options.python, "-m", "bot.webserver", "--host", options.host,
                       "--port", str(options.web_port), "--rasa-port", str(options.rasa_port)]
        if options.public_rasa_url:
            web_command += ["--rasa-url", options.public_rasa_url]
        return [
            ProcessSpec(
                name="actions", label="action server",
                command=[options.python, "-m", "rasa_sdk", "--actions", "actions", "--port", str(options.actions_port)],
                log_path=self.run_dir / "actions.log", cwd=options.project,
                env=self._child_env(SANIC_HOST="127.0.0.1"),
                health_url=f"http://127.0.0.1:{options.actions_port}/health",
                health_check=lambda body: b'"ok"' in body,
                start_timeout=options.start_timeout,
            ),
            *rasa_specs,
            ProcessSpec(
                name="web", label="web chat server",
                command=web_command,
                log_path=self.run_dir / "web.log", cwd=REPO_ROOT,
                env=self._child_env(),
                health_url=f"{options.web_url}/healthz",
                start_timeout=min(options.start_timeout, 60.0),
            ),
        ]

    def _start_servers(self, run_config) -> None:
        servers = "the Rasa server" if self.options.rasa_servers == 1 else f"{self.options.rasa_servers} Rasa servers and their proxy"
        log.info("Starting the action server, %s and the web chat", servers)
        for spec in self._server_specs(run_config):
            server = ManagedProcess(spec)
            self.servers.append(server)
            server.start()
        wait_until_healthy(self.servers)

    def _announce(self, seconds: float) -> None:
        options = self.options
        lines = [
            "",
            f"Ready in {seconds:.1f} s.",
            f"  Web chat:       {options.web_url}",
            f"  Rasa REST:      {options.rasa_url}/webhooks/rest/webhook"
            + (f" (round robin over {options.rasa_servers} servers)" if options.rasa_servers > 1 else ""),
            f"  Rasa HTTP API:  {'on (token from ' + AUTH_TOKEN_VARIABLE + ')' if options.auth_token else 'off (set ' + AUTH_TOKEN_VARIABLE + ' to turn it on)'}",
            f"  Logs:           {self.run_dir}",
            "" if options.check_only else "Press Ctrl-C to stop.",
        ]
        print("\n".join(lines), flush=True)
        # Only for launcher.log: the console already shows the banner above.
        log.getChild("ready").info("Ready in %.1f s at %s", seconds, options.web_url)

    def _supervise(self) -> int:
        while True:
            for server in self.servers:
                error = server.failure()
                if error is not None:
                    log.error("The %s stopped unexpectedly (status %s). Its log is %s; the last lines:\n%s",
                              server.spec.label, server.returncode, server.spec.log_path, error.tail)
                    return 1
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop the running step and every server, newest first; safe to call twice."""
        in_main_thread = threading.current_thread() is threading.main_thread()
        signums = (signal.SIGINT, signal.SIGTERM) if in_main_thread else ()
        previous = {signum: signal.getsignal(signum) for signum in signums}
        for signum in previous:
            # A second Ctrl-C while stopping must not leave children behind half-stopped.
            signal.signal(signum, lambda *_: log.info("Still stopping; please wait."))
        try:
            if self._stepping is not None:
                self._stepping.stop()
                self._stepping = None
            for server in reversed(self.servers):
                server.stop()
            self.servers = []
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


@contextmanager
def _exclusive_lock(path: Path, what: str):
    """Hold an exclusive advisory lock on ``path``, logging while another process holds it."""
    import fcntl

    with open(path, "a") as handle:
        waited_since = time.monotonic()
        next_note = waited_since
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= next_note:
                    log.info("Waiting for another process to finish building %s (lock: %s, %.0f s so far)",
                             what, path, time.monotonic() - waited_since)
                    next_note += 30
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _require_shared_stores(endpoints: dict, servers: int) -> None:
    """Reject several Rasa servers unless they share a server-based tracker store and lock store."""
    tracker = endpoints.get("tracker_store") or {}
    lock = endpoints.get("lock_store") or {}
    tracker_shared = str(tracker.get("type", "")).lower() not in ("", "in_memory") and \
        str(tracker.get("dialect", "")).lower() != "sqlite"
    lock_shared = str(lock.get("type", "")).lower() not in ("", "in_memory")
    if not (tracker_shared and lock_shared):
        raise ConfigError(
            f"{servers} Rasa servers need a tracker store and a lock store they all share: set "
            "BOT_TRACKER_STORE_URL=postgresql://user@127.0.0.1:5432/rasa and "
            "BOT_LOCK_STORE_URL=redis://127.0.0.1:6379/0 (got tracker store "
            f"{tracker.get('type', 'in memory')} {tracker.get('dialect', '')}, lock store {lock.get('type', 'in memory')})."
        )


def _raise_interrupted(signum: int, _frame) -> None:
    raise _Interrupted(signum)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bot``."""
    options = parse_options(argv)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(message)s"))
    # The console shows the launcher's own progress and every warning; launcher.log gets all.
    console.addFilter(lambda record: record.name == __name__ or record.levelno >= logging.WARNING)
    logging.getLogger().addHandler(console)
    logging.getLogger().setLevel(logging.INFO)
    signal.signal(signal.SIGINT, _raise_interrupted)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    return Launcher(options).run()


if __name__ == "__main__":
    raise SystemExit(main())
