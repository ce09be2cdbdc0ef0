"""Compose the credentials and endpoints files that one launcher run hands to Rasa.

Rasa 3.6 expands ``${VAR}`` in its YAML files while parsing, and a variable that is not set
aborts the whole file (``rasa/shared/utils/io.py``, ``replace_environment_variables``), so a
Telegram block waiting for its token would stop the web chat too. The repository's
``credentials.yml`` therefore keeps the messaging channels commented out, and the launcher writes
a per-run copy that adds each channel whose variables are all set. Values stay ``${VAR}``
placeholders in the written files, so no secret lands on disk; Rasa reads them from the
environment it inherits. Only unquoted placeholders are expanded: Rasa's resolver ignores
quoted scalars.

The endpoints file gets the action server's URL for the chosen port, and the tracker and lock
stores named by ``BOT_TRACKER_STORE_URL`` and ``BOT_LOCK_STORE_URL`` when those are set.
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import unquote, urlsplit

import yaml

__all__ = [
    "ChannelSpec", "OPTIONAL_CHANNELS", "RunConfig", "ConfigError", "compose_run_config", "read_plain_yaml",
    "write_yaml", "tracker_store_from_url", "lock_store_from_url", "placeholders_in",
]

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")

# Settings read by the launcher (documented in the README's configuration section).
CALLBACK_URL_VARIABLE = "BOT_CALLBACK_URL"
TRACKER_STORE_VARIABLE = "BOT_TRACKER_STORE_URL"
LOCK_STORE_VARIABLE = "BOT_LOCK_STORE_URL"
LOCK_STORE_PREFIX_VARIABLE = "BOT_LOCK_STORE_PREFIX"
# Rasa's own RedisLockStore lets two servers process one conversation at once (see bot/lockstore.py).
ATOMIC_REDIS_LOCK_STORE = "bot.lockstore.AtomicRedisLockStore"
# The passwords from the two URLs above are passed to Rasa under these names, never written to disk.
TRACKER_PASSWORD_VARIABLE = "BOT_TRACKER_STORE_PASSWORD"
LOCK_PASSWORD_VARIABLE = "BOT_LOCK_STORE_PASSWORD"


class ConfigError(ValueError):
    """A configuration file or setting is invalid. The message names it and how to fix it."""


@dataclass(frozen=True)
class ChannelSpec:
    """A messaging channel that is switched on when its environment variables are set."""

    name: str
    """Rasa's channel key in credentials.yml."""
    required: dict[str, str]
    """Credential key -> environment variable; the channel stays off unless all are set."""
    optional: dict[str, str] = field(default_factory=dict)
    """Credential key -> environment variable, added when set."""
    webhook_path: str = ""
    """Path the platform must call, below the public address of the Rasa server."""


OPTIONAL_CHANNELS: tuple[ChannelSpec, ...] = (
    ChannelSpec(
        "telegram",
        required={
            "access_token": "TELEGRAM_ACCESS_TOKEN",
            "verify": "TELEGRAM_BOT_NAME",
            "webhook_url": "TELEGRAM_WEBHOOK_URL",
        },
        webhook_path="/webhooks/telegram/webhook",
    ),
    ChannelSpec(
        "slack",
        required={"slack_token": "SLACK_BOT_TOKEN", "slack_signing_secret": "SLACK_SIGNING_SECRET"},
        optional={"slack_channel": "SLACK_CHANNEL"},
        webhook_path="/webhooks/slack/webhook",
    ),
    ChannelSpec(
        "facebook",
        required={
            "verify": "FACEBOOK_VERIFY_TOKEN",
            "secret": "FACEBOOK_APP_SECRET",
            "page-access-token": "FACEBOOK_PAGE_ACCESS_TOKEN",
        },
        webhook_path="/webhooks/facebook/webhook",
    ),
)

_DEFAULT_CHANNELS = ("rest", "socketio", "callback")


@dataclass
class RunConfig:
    """The files one run passes to Rasa, and the variables their placeholders need."""

    credentials: dict[str, Any]
    endpoints: dict[str, Any]
    child_env: dict[str, str]
    """Variables to add to the Rasa server's environment (passwords split out of store URLs)."""
    channels: list[str]
    """Channels switched on, in file order."""
    notes: list[str]
    """One line per setting worth telling the person who started the run (channels left off, stores)."""


def _plain_loader() -> type:
    """Return a SafeLoader without Rasa's ``!env_var`` resolver, which importing Rasa adds to PyYAML."""

    class PlainLoader(yaml.SafeLoader):
        pass

    PlainLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "!env_var"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return PlainLoader


def read_plain_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping without expanding ``${VAR}``; a missing or empty file gives an empty dict."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        content = yaml.load(text, Loader=_plain_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f"{path} must contain a mapping at the top level, not {type(content).__name__}.")
    return content


def write_yaml(content: Mapping[str, Any], path: Path) -> None:
    """Write a mapping as YAML with placeholders left unquoted, so Rasa expands them."""
    text = yaml.safe_dump(dict(content), sort_keys=False, default_flow_style=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")


def placeholders_in(content: Any) -> set[str]:
    """Return the variable names of every ``${VAR}`` in a nested structure of dicts, lists and strings."""
    found: set[str] = set()
    if isinstance(content, str):
        found.update(_PLACEHOLDER.findall(content))
    elif isinstance(content, Mapping):
        for value in content.values():
            found |= placeholders_in(value)
    elif isinstance(content, (list, tuple)):
        for value in content:
            found |= placeholders_in(value)
    return found


def _is_set(env: Mapping[str, str], name: str) -> bool:
    return bool(env.get(name, "").strip())


def _compose_credentials(base: dict[str, Any], env: Mapping[str, str], notes: list[str]) -> dict[str, Any]:
    credentials = copy.deepcopy(base)
    for name in _DEFAULT_CHANNELS:
        if name not in credentials:
            credentials[name] = None
            notes.append(f"credentials.yml has no {name} block; the {name} channel runs with its defaults.")

    callback = credentials.get("callback") or {}
    if _is_set(env, CALLBACK_URL_VARIABLE):
        callback = {**callback, "url": "${%s}" % CALLBACK_URL_VARIABLE}
    if not callback.get("url"):
        raise ConfigError(
            f"The callback channel has no URL: set {CALLBACK_URL_VARIABLE} or add `url:` under `callback:` in credentials.yml."
        )
    credentials["callback"] = callback

    for channel in OPTIONAL_CHANNELS:
        if credentials.get(channel.name) is not None:
            notes.append(f"{channel.name}: on, configured in credentials.yml.")
            continue
        missing = [variable for variable in channel.required.values() if not _is_set(env, variable)]
        if not missing:
            block = {key: "${%s}" % variable for key, variable in channel.required.items()}
            block.update({key: "${%s}" % variable for key, variable in channel.optional.items() if _is_set(env, variable)})
            credentials[channel.name] = block
            notes.append(f"{channel.name}: on; the platform must call <public address>{channel.webhook_path}.")
        elif len(missing) < len(channel.required):
            notes.append(f"{channel.name}: off, because {', '.join(missing)} is not set.")
        else:
            credentials.pop(channel.name, None)
    return credentials


def tracker_store_from_url(url: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Turn an SQLAlchemy-style URL into Rasa's SQL tracker store block and the password to pass on.

    ``sqlite:///var/tracker.db`` (a relative path, from the repository root),
    ``sqlite:////abs/path.db`` and ``postgresql://user:password@host:5432/database`` are accepted.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        # sqlite:///relative.db has path "/relative.db"; sqlite:////abs.db has path "//abs.db".
        database = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not database:
            raise ConfigError(f"{TRACKER_STORE_VARIABLE}={url!r} names no database file; example: sqlite:///var/tracker.db")
        return {"type": "SQL", "dialect": "sqlite", "db": database}, {}
    if scheme.split("+")[0] in ("postgresql", "postgres", "mysql", "oracle", "mssql"):
        dialect = "postgresql" if scheme.startswith("postgres") else scheme.split("+")[0]
        database = parts.path.lstrip("/")
        if not parts.hostname or not database:
            raise ConfigError(
                f"{TRACKER_STORE_VARIABLE} must name a host and a database, e.g. "
                f"postgresql://user:password@127.0.0.1:5432/rasa; got {_redact(url)!r}."
            )
        block: dict[str, Any] = {"type": "SQL", "dialect": dialect, "url": parts.hostname, "db": database}
        if parts.port:
            block["port"] = parts.port
        if parts.username:
            block["username"] = unquote(parts.username)
        extra_env: dict[str, str] = {}
        if parts.password:
            block["password"] = "${%s}" % TRACKER_PASSWORD_VARIABLE
            extra_env[TRACKER_PASSWORD_VARIABLE] = unquote(parts.password)
        return block, extra_env
    raise ConfigError(
        f"{TRACKER_STORE_VARIABLE} has the unsupported scheme {parts.scheme!r}; "
        "use sqlite:///path.db or postgresql://user:password@host:port/database."
    )


def lock_store_from_url(url: str, key_prefix: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Turn ``redis://[:password@]host[:port][/db]`` into a lock store block for Redis."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("redis", "rediss"):
        raise ConfigError(
            f"{LOCK_STORE_VARIABLE} must be a redis:// URL such as redis://127.0.0.1:6379/0; got {_redact(url)!r}."
        )
    if not parts.hostname:
        raise ConfigError(f"{LOCK_STORE_VARIABLE} names no host; example: redis://127.0.0.1:6379/0.")
    block: dict[str, Any] = {"type": ATOMIC_REDIS_LOCK_STORE, "url": parts.hostname, "port": parts.port or 6379}
    database = parts.path.lstrip("/")
    if database:
        if not database.isdigit():
            raise ConfigError(f"{LOCK_STORE_VARIABLE}: the Redis database must be a number, not {database!r}.")
        block["db"] = int(database)
    if parts.scheme.lower() == "rediss":
        block["use_ssl"] = True
    if key_prefix:
        if not re.fullmatch(r"[A-Za-z0-9]+", key_prefix):
            raise ConfigError(f"{LOCK_STORE_PREFIX_VARIABLE} may hold only letters and digits, not {key_prefix!r}.")
        block["key_prefix"] = key_prefix
    extra_env: dict[str, str] = {}
    if parts.password:
        block["password"] = "${%s}" % LOCK_PASSWORD_VARIABLE
        extra_env[LOCK_PASSWORD_VARIABLE] = unquote(parts.password)
    return block, extra_env


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def _compose_endpoints(
    base: dict[str, Any], env: Mapping[str, str], actions_url: str, notes: list[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    endpoints = copy.deepcopy(base)
    extra_env: dict[str, str] = {}
    action_endpoint = endpoints.get("action_endpoint") or {}
    endpoints["action_endpoint"] = {**action_endpoint, "url": actions_url}

    if _is_set(env, TRACKER_STORE_VARIABLE):
        block, secrets = tracker_store_from_url(env[TRACKER_STORE_VARIABLE].strip())
        endpoints["tracker_store"] = block
        extra_env.update(secrets)
        notes.append(f"Tracker store: {block['dialect']} from {TRACKER_STORE_VARIABLE}.")
    elif endpoints.get("tracker_store"):
        store = endpoints["tracker_store"]
        notes.append(f"Tracker store: {store.get('type')} {store.get('dialect', '')} from endpoints.yml.".replace("  ", " "))
    else:
        notes.append("Tracker store: in memory (conversations are lost when the server stops).")

    if _is_set(env, LOCK_STORE_VARIABLE):
        block, secrets = lock_store_from_url(env[LOCK_STORE_VARIABLE].strip(), env.get(LOCK_STORE_PREFIX_VARIABLE, "").strip() or None)
        endpoints["lock_store"] = block
        extra_env.update(secrets)
        notes.append(f"Lock store: Redis at {block['url']}:{block['port']} from {LOCK_STORE_VARIABLE}.")
    elif endpoints.get("lock_store"):
        notes.append(f"Lock store: {endpoints['lock_store'].get('type')} from endpoints.yml.")
    else:
        notes.append("Lock store: in memory (one Rasa server only).")
    return endpoints, extra_env


def _anchor_sqlite_path(endpoints: dict[str, Any], project: Path) -> None:
    """Make a relative SQLite tracker path absolute from the project folder and create its folder.

    Rasa opens the path relative to its working directory, and SQLite cannot create a missing folder.
    """
    store = endpoints.get("tracker_store") or {}
    database = store.get("db")
    if str(store.get("dialect", "")).lower() != "sqlite" or not database or placeholders_in(database):
        return
    path = Path(database)
    if not path.is_absolute():
        path = project / path
    path.parent.mkdir(parents=True, exist_ok=True)
    store["db"] = str(path)


def _check_placeholders(content: dict[str, Any], env: Mapping[str, str], source: Path) -> None:
    missing = sorted(name for name in placeholders_in(content) if not _is_set(env, name))
    if missing:
        raise ConfigError(
            f"{source.name} refers to {', '.join('${%s}' % name for name in missing)}, which is not set: "
            "set it in the environment or remove that line."
        )


def compose_run_config(
    credentials_path: Path, endpoints_path: Path, env: Mapping[str, str], actions_url: str
) -> RunConfig:
    """Compose one run's credentials and endpoints from the repository files and the environment."""
    notes: list[str] = []
    credentials = _compose_credentials(read_plain_yaml(credentials_path), env, notes)
    endpoints, extra_env = _compose_endpoints(read_plain_yaml(endpoints_path), env, actions_url, notes)
    _anchor_sqlite_path(endpoints, endpoints_path.parent)
    merged_env = {**env, **extra_env}
    _check_placeholders(credentials, merged_env, credentials_path)
    _check_placeholders(endpoints, merged_env, endpoints_path)
    return RunConfig(
        credentials=credentials,
        endpoints=endpoints,
        child_env=extra_env,
        channels=list(credentials),
        notes=notes,
    )
