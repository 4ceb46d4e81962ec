"""What every route shares: the server's state, who the client is, and the API-key check (a dependency)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .errors import APIError
from .metrics import Metrics
from .models import ModelPool
from .settings import ServeSettings


@dataclass
class Server:
    settings: ServeSettings
    pool: ModelPool
    metrics: Metrics


def server(request: Request) -> Server:
    return request.app.state.llmkit


_bearer = HTTPBearer(auto_error=False, description="One of the server's --api-key values.")


def require_key(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str | None:
    """With keys configured, ``Authorization: Bearer KEY`` must carry one of them (compared in constant time)."""
    return check_key(request, creds.credentials if creds else None,
                     "send the header `Authorization: Bearer YOUR_KEY`")


def check_key(request: Request, given: str | None, how: str) -> str | None:
    """The key check every API shares: ``given`` must be one of the server's keys (when it has any); ``how``
    tells a client without one which header to send."""
    keys = server(request).settings.api_keys
    if not keys:
        return None
    if given is None:
        raise APIError(401, f"missing API key: {how}.", code="invalid_api_key",
                       headers={"WWW-Authenticate": "Bearer"})
    if not any(secrets.compare_digest(given.encode(), k.encode()) for k in keys):
        raise APIError(401, "incorrect API key; use one of the keys the server was started with (--api-key).",
                       code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
    request.state.api_key = given
    return given


def client_id(request: Request) -> str:
    """Whom fair queueing and the per-client 429 are fair to: the API key, else (no keys) the client's address.
    Never the request's ``user`` field: a client chooses that freely, so it would let one client pose as many."""
    key = getattr(request.state, "api_key", None)
    if key:
        return f"key:{hash(key)}"
    return f"ip:{request.client.host if request.client else '?'}"
