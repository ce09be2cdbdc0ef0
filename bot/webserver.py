"""Serve the web chat's static files and its ``config.json`` on one port.

Run as ``python -m bot.webserver --port 8080 --rasa-port 5005``. The page is served from
``bot/static``; ``config.json`` tells the page where the Rasa REST channel is. Every response
carries a Content-Security-Policy that allows scripts and styles from this server only and
network requests to this server and the Rasa server, so even a rendering bug cannot run a script
that arrived in a bot message.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["STATIC_DIR", "ChatRequestHandler", "make_server", "main"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class ChatRequestHandler(SimpleHTTPRequestHandler):
    """Static files without directory listings, plus ``/config.json`` and ``/healthz``."""

    server_version = "MovieChat"
    rasa_port: int = 5005
    rasa_url: str | None = None
    """Public Rasa address when it differs from this page's host with ``rasa_port``."""

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", self._content_security_policy())
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        # The page is small and changes between releases; revalidating avoids a stale script.
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def _rasa_origins(self) -> list[str]:
        if self.rasa_url:
            return [_origin(self.rasa_url)]
        host = (self.headers.get("Host") or "127.0.0.1").rsplit(":", 1)[0] or "127.0.0.1"
        return [f"http://{host}:{self.rasa_port}", f"ws://{host}:{self.rasa_port}"]

    def _content_security_policy(self) -> str:
        connect = " ".join(["'self'", *self._rasa_origins()])
        return (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src {connect}; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        path = urlsplit(self.path).path
        if path == "/config.json":
            self._send_json({"rasa_port": self.rasa_port, "rasa_url": self.rasa_url, "rest_path": "/webhooks/rest/webhook"})
        elif path == "/healthz":
            self._send_json({"status": "ok"})
        else:
            super().do_GET()

    def list_directory(self, path):  # noqa: ANN001 - signature from SimpleHTTPRequestHandler
        self.send_error(HTTPStatus.NOT_FOUND, "Not found")
        return None

    def _send_json(self, content: dict) -> None:
        body = json.dumps(content).encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the parent's parameter name
        log.info("%s %s", self.address_string(), format % args)


def make_server(host: str, port: int, rasa_port: int, rasa_url: str | None = None) -> ThreadingHTTPServer:
    """Create (but do not start) the web chat server."""
    handler = type("ConfiguredChatRequestHandler", (ChatRequestHandler,), {"rasa_port": rasa_port, "rasa_url": rasa_url})
    return ThreadingHTTPServer((host, port), partial(handler, directory=str(STATIC_DIR)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.webserver", description="Serve the movie chat web page.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port of the web chat (default: %(default)s)")
    parser.add_argument("--rasa-port", type=int, default=5005, help="port of the Rasa server on the page's host (default: %(default)s)")
    parser.add_argument("--rasa-url", default=None, help="public address of the Rasa server, when it is not the page's host with --rasa-port")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)

    server = make_server(options.host, options.port, options.rasa_port, options.rasa_url)
    # SIGTERM from the launcher ends serve_forever through the same path as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    log.info("Serving %s on http://%s:%d", STATIC_DIR, options.host, options.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        log.info("Stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
