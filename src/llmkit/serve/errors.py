"""One error shape for every failure, OpenAI's: ``{"error": {"message", "type", "param", "code"}}``.

``APIError`` is raised by routes and workers; ``install(app)`` maps everything else (pydantic validation, unknown
routes, llmkit's own ``LlmkitError``s, bugs) onto the same shape with the right status, in one place.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import EngineUnavailableError, InputError, IntegrityError, LlmkitError, ModelNotFoundError, RemoteError

log = logging.getLogger("llmkit.serve")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\[\]]*")


class APIError(Exception):
    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return error_response(self.status, self.message, self.type, self.param, self.code, self.headers)


def error_response(status: int, message: str, type: str = "invalid_request_error", param: str | None = None,
                   code: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def invalid(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def overloaded(message: str, retry_after: int, *, per_client: bool = False) -> APIError:
    """429 when one client has too much queued (slow down), 503 when the whole server is full (come back later)."""
    status, code = (429, "rate_limit_exceeded") if per_client else (503, "server_overloaded")
    kind = "rate_limit_error" if per_client else "server_error"
    return APIError(status, message, type=kind, code=code, headers={"Retry-After": str(retry_after)})


def from_llmkit(e: LlmkitError) -> APIError:
    if isinstance(e, ModelNotFoundError):
        return APIError(404, str(e), param="model", code="model_not_found")
    if isinstance(e, InputError):
        return APIError(400, str(e))
    if isinstance(e, EngineUnavailableError):
        return APIError(503, str(e), type="server_error", code="engine_unavailable")
    if isinstance(e, IntegrityError):
        return APIError(500, str(e), type="server_error", code="model_corrupt")
    if isinstance(e, RemoteError):  # the provider behind a remote model refused or could not be reached
        return APIError(502, str(e), type="server_error", code="upstream_error")
    return APIError(500, str(e), type="server_error")


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "invalid request", None
    first = errors[0]
    loc: list[str] = []
    raw = list(first.get("loc", ()))
    if raw and raw[0] in ("body", "query", "path", "header"):
        raw = raw[1:]
    for x in raw:
        if not (isinstance(x, int) or _NAME.fullmatch(str(x))):
            break  # pydantic's union branch tags ("list[constrained-str]") are not part of the parameter
        loc.append(str(x))
    param = ".".join(loc) or None
    if first.get("type") == "json_invalid":
        return "the request body is not valid JSON", None
    msg = first.get("msg", "invalid value")
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return (f"{param}: {msg}{more}" if param else f"{msg}{more}"), param


def install(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api(_: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return error_response(400, message, param=param, code="invalid_value")

    @app.exception_handler(LlmkitError)
    async def _llmkit(_: Request, exc: LlmkitError) -> JSONResponse:
        return from_llmkit(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "invalid_api_key", 408: "request_timeout",
                 413: "request_too_large"}
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}; see /docs for the API"
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return error_response(exc.status_code, message, kind, code=codes.get(exc.status_code),
                              headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return error_response(500, f"internal server error ({type(exc).__name__}); see the server log",
                              "server_error", code="internal_error")


def openapi_errors() -> dict[int | str, dict[str, Any]]:
    """The error responses every route documents in the OpenAPI schema."""
    return {400: {"description": "Invalid request (OpenAI error shape)"},
            401: {"description": "Missing or wrong API key"},
            429: {"description": "Too many queued requests from this client (Retry-After)"},
            503: {"description": "Server queue full (Retry-After)"}}
