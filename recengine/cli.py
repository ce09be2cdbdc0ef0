"""The ``python -m recengine`` command line.

Each module in :mod:`recengine.commands` adds its sub-commands through a ``register(subparsers)``
function, so a new model brings its own ``train`` or ``evaluate`` command without editing this file.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from recengine import __version__, commands
from recengine.errors import RecEngineError

__all__ = ["main", "build_parser"]

log = logging.getLogger("recengine")


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with every command module's sub-commands."""
    parser = argparse.ArgumentParser(
        prog="python -m recengine",
        description="Movie recommendation engine: datasets, title search, charts, recommenders and evaluation.",
    )
    parser.add_argument("--version", action="version", version=f"recengine {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more detail (-v: info, -vv: debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda info: info.name):
        if module_info.name.startswith("_"):
            continue  # shared helpers, not a command
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command and return its exit status: 0 on success, 2 on a problem the user can fix."""
    parser = build_parser()
    options = parser.parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(options.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(options, "handler", None):
        parser.print_help()
        return 1
    try:
        return int(options.handler(options) or 0)
    except RecEngineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
