"""Who may reach a local server: one place for `llmkit serve` and the web app.

Two rules:
- **Host check** (against DNS rebinding): a web page on ``evil.example`` can make the victim's browser resolve that
  name to 127.0.0.1 and then talk to a local server, sending ``Host: evil.example``. Such a request always carries a
  *name* the server was not started for, so a request is accepted when its Host is an IP literal, ``localhost``,
  the address the server is bound to, or a name listed in ``--allowed-hosts`` (``*`` accepts any). This is the rule
  of webpack-dev-server's ``allowedHosts: 'auto'`` and Jupyter's ``allow_remote_access``.
- **No open doors**: binding anything but a loopback address needs credentials (an API key for the server, a
  user and password for the web app).

>>> host_allowed("127.0.0.1:8000", allowed_hosts("127.0.0.1"))
True
>>> host_allowed("evil.example", allowed_hosts("127.0.0.1"))
False
"""
from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from typing import Any

from .errors import InputError

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind_host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The host names a server bound to ``bind_host`` answers to (IP literals are always accepted)."""
    names = set(LOOPBACK_NAMES) | {h.strip().lower() for h in extra if h.strip()}
    if bind_host not in WILDCARD_BINDS:
        names.add(bind_host.strip("[]").lower())
    return frozenset(names)


def _hostname(header: str) -> str:
    """``Host`` without its port: ``example.com:8000`` -> ``example.com``, ``[::1]:8000`` -> ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    if header.count(":") == 1:
        return header.split(":", 1)[0]
    return header


def host_allowed(header: str | None, allowed: frozenset[str]) -> bool:
    if "*" in allowed:
        return True
    if not header:  # HTTP/1.0 without Host: no browser sends that, so no rebinding page can
        return True
    name = _hostname(header).rstrip(".")
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    return name in allowed or name.endswith(".localhost")


def check_bind(host: str, has_credentials: bool, fix: str) -> None:
    """Refuse to listen on a non-loopback address without credentials. ``fix`` names the flag that adds them."""
    if not is_loopback(host) and not has_credentials:
        raise InputError(f"--host {host} exposes this machine's models to the network without credentials; "
                         f"add {fix}, or keep the default --host 127.0.0.1.")


class HostGuard:
    """Pure ASGI middleware: answers 403 to an HTTP request whose Host header is not allowed (see module doc),
    in OpenAI's error shape (``{"error": {"message", "type", "param", "code"}}``), which the server uses."""

    def __init__(self, app: Any, allowed: frozenset[str]):
        self.app, self.allowed = app, allowed

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            header = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if not host_allowed(header, self.allowed):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                body = json.dumps({"error": {
                    "message": f"Host {header!r} is not allowed: start the server with --allowed-hosts "
                               f"{_hostname(header)} to accept it.",
                    "type": "forbidden", "param": None, "code": "host_not_allowed"}}).encode()
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
