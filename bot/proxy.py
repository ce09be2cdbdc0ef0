"""A small round-robin HTTP proxy that puts several Rasa servers behind one address.

Run as ``python -m bot.proxy --port 5005 http://127.0.0.1:5006 http://127.0.0.1:5007``. Each
request goes to the next server in turn, so one conversation's messages land on different
servers. That only works when the servers share a tracker store (SQL) and a lock store (Redis).
Every response carries ``X-Rasa-Upstream`` naming the server that produced it.

This is for demonstrations and tests on one machine. A production set-up puts a real load
balancer (nginx, HAProxy, a cloud balancer) in front of the servers.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys

from aiohttp import ClientSession, ClientTimeout, web

__all__ = ["UPSTREAM_HEADER", "make_app", "main"]

log = logging.getLogger(__name__)

UPSTREAM_HEADER = "X-Rasa-Upstream"

# Connection-level headers that describe one hop and must not be forwarded (RFC 9110, section 7.6.1),
# plus the ones aiohttp computes itself for the new request or response.
_HOP_HEADERS = frozenset(
    name.lower() for name in (
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Host", "Content-Length", "Content-Encoding",
    )
)


def _forwardable(headers) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower() not in _HOP_HEADERS}


def make_app(upstreams: list[str], timeout: float = 3600.0) -> web.Application:
    """Create the proxy application forwarding to ``upstreams`` in turn."""
    if not upstreams:
        raise ValueError("the proxy needs at least one upstream server URL")
    bases = [url.rstrip("/") for url in upstreams]
    turn = itertools.cycle(range(len(bases)))

    async def open_session(app: web.Application) -> None:
        # Rasa responds to a message only when the whole turn is done, so the timeout is Rasa's own (one hour).
        app["session"] = ClientSession(timeout=ClientTimeout(total=timeout), auto_decompress=False)

    async def close_session(app: web.Application) -> None:
        await app["session"].close()

    async def forward(request: web.Request) -> web.StreamResponse:
        # NOTE: socket.io sessions live in one server's memory, so their requests always go to the first
        # server. This proxy does not forward WebSocket upgrades either, so socket.io clients fall back to polling.
        index = 0 if request.path.startswith("/socket.io") else next(turn)
        target = bases[index] + request.rel_url.path_qs
        body = await request.read()
        try:
            async with request.app["session"].request(
                request.method, target, headers=_forwardable(request.headers), data=body or None,
                allow_redirects=False,
            ) as upstream:
                content = await upstream.read()
                headers = _forwardable(upstream.headers)
                if "Content-Encoding" in upstream.headers:
                    headers["Content-Encoding"] = upstream.headers["Content-Encoding"]
                headers[UPSTREAM_HEADER] = bases[index]
                return web.Response(status=upstream.status, headers=headers, body=content)
        except Exception as error:  # noqa: BLE001 - any upstream failure becomes a 502 for the client
            log.warning("Forwarding %s %s to %s failed: %r", request.method, request.rel_url, bases[index], error)
            return web.json_response(
                {"error": f"the Rasa server {bases[index]} did not answer: {type(error).__name__}"},
                status=502, headers={UPSTREAM_HEADER: bases[index]},
            )

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.on_startup.append(open_session)
    app.on_cleanup.append(close_session)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.proxy", description="Round-robin proxy for several Rasa servers.")
    parser.add_argument("upstreams", nargs="+", metavar="URL", help="base URL of a Rasa server, e.g. http://127.0.0.1:5006")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=5005, help="port to listen on (default: %(default)s)")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    log.info("Forwarding http://%s:%d to %s in turn", options.host, options.port, ", ".join(options.upstreams))
    web.run_app(make_app(options.upstreams), host=options.host, port=options.port, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
