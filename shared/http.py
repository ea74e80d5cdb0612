"""What the four services' HTTP apps share: one error shape, refused input, size limits.

- Errors: a 422 is always FastAPI's validation list (``{"detail": [{"loc", "msg", "type"}]}``),
  every other 4xx ``{"detail": "<Dutch> / <English>"}``; both documented on every operation
  that can answer them (see :meth:`ServiceApp.openapi`).
- Input PostgreSQL cannot store (NUL, a lone surrogate) in a path or query parameter or in a
  JSON body is refused with a 422 that says where, before any handler sees it.
- Request bodies are limited by the bytes actually received, chunked or not: 413.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import validation_error_definition, validation_error_response_definition
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.text import Location, storable, unstorable_places

UNSTORABLE = "unstorable_character"
UNSTORABLE_MESSAGE = (
    "Bevat een teken dat niet kan worden opgeslagen (NUL of een losse surrogaat) / "
    "contains a character that cannot be stored (NUL or a lone surrogate)"
)


class Problem(BaseModel):
    """Every error but 422: what is wrong, in Dutch and English."""

    detail: str


CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": Problem, "description": "Conflict"}}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "Not found"}}
FORBIDDEN: dict[int | str, dict[str, Any]] = {403: {"model": Problem, "description": "Forbidden"}}


KEY_REFUSED_PAGE: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "Wrong key: the page says so",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
}


def invalid(message: str, loc: Location = ("body",), kind: str = "value_error") -> RequestValidationError:
    """A 422 in the standard shape, raised by a handler that finds its input wrong."""
    return RequestValidationError([{"type": kind, "loc": loc, "msg": message}])


def answer_errors(app: FastAPI, statuses: Mapping[type[Exception], int]) -> None:
    """Domain errors to HTTP in one place: each type answers its status with its message (a 422
    in the standard list, at ``body``)."""
    for kind, status_code in statuses.items():
        app.add_exception_handler(kind, _domain_error(status_code))


def _domain_error(status_code: int) -> Callable[[Request, Exception], Coroutine[Any, Any, Response]]:
    async def answer(request: Request, exc: Exception) -> Response:
        return await _http_error(request, HTTPException(status_code, str(exc)))

    return answer


def too_large(limit: int) -> str:
    return f"Te groot: hoogstens {limit} bytes / too large: at most {limit} bytes"


# --- refusing input PostgreSQL cannot store ---------------------------------------------


def _unstorable_input(request: Request, body: object) -> list[dict[str, Any]]:
    places: list[Location] = [
        ("path", name)
        for name, value in request.path_params.items()
        if isinstance(value, str) and not storable(value)
    ]
    places += [("query", name) for name, value in request.query_params.multi_items() if not storable(value)]
    places += [("body", *place) for place in unstorable_places(body)]
    return [{"type": UNSTORABLE, "loc": place, "msg": UNSTORABLE_MESSAGE} for place in places]


def _is_json(request: Request) -> bool:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class GuardedRoute(APIRoute):
    """A route that refuses unstorable input (path, query, JSON body) before its handler runs."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            body: object = None
            if _is_json(request):
                try:
                    body = await request.json()  # kept by the request: the handler parses it once
                except ValueError:
                    body = None  # the handler answers it as FastAPI does: json_invalid
            errors = _unstorable_input(request, body)
            if errors:
                raise RequestValidationError(errors)
            return await handler(request)

        return guarded


# --- one error shape ---------------------------------------------------------------------


async def _http_error(request: Request, exc: Exception) -> Response:
    """Every HTTPException as ``{"detail": ...}``; a 422 with a message as the standard list."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 422 and isinstance(exc.detail, str):
        content: dict[str, Any] = {"detail": [{"type": "value_error", "loc": ["body"], "msg": exc.detail}]}
    else:
        content = {"detail": exc.detail}
    return JSONResponse(content, status_code=exc.status_code, headers=exc.headers)


_PROBLEM = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_INVALID = {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}
_DOCUMENTED: dict[int, tuple[str, dict[str, Any]]] = {
    400: ("The body cannot be read", _PROBLEM),
    401: ("Wrong or missing API key (X-API-Key)", _PROBLEM),
    404: ("Not found, or not yours to see", _PROBLEM),
    413: ("The body is larger than this route's limit", _PROBLEM),
    422: ("The request is not valid: what and where, per item", _INVALID),
}


def _error_codes(method: str, operation: Mapping[str, Any]) -> set[int]:
    """The 4xx an operation can answer, read from what it takes."""
    params = operation.get("parameters", [])
    where = {p["in"] for p in params}
    codes: set[int] = set()
    if method in ("post", "put", "patch"):
        codes |= {413, 422}
    if "requestBody" in operation:
        codes.add(400)
    if "path" in where:
        codes |= {404, 422}
    if "query" in where:
        codes.add(422)
    if any(p["in"] == "header" and p["name"].lower() == "x-api-key" for p in params):
        codes.add(401)
    return codes


class ServiceApp(FastAPI):
    """A service's FastAPI app; its OpenAPI document lists the errors each operation answers."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is not None:
            return self.openapi_schema
        schema = super().openapi()
        for path_item in schema.get("paths", {}).values():
            for method, operation in path_item.items():
                responses = operation.setdefault("responses", {})
                for code in sorted(_error_codes(method, operation)):
                    description, content = _DOCUMENTED[code]
                    responses.setdefault(str(code), {"description": description, "content": content})
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault("Problem", Problem.model_json_schema())
        schemas.setdefault("ValidationError", validation_error_definition)
        schemas.setdefault("HTTPValidationError", validation_error_response_definition)
        return schema


# --- size limits -------------------------------------------------------------------------


class BodyLimit:
    """Counts the bytes a request's body really brings (chunked too) and answers 413 once they
    pass the route's limit: the first matching ``(path pattern, limit)``, else ``default``. A
    declared Content-Length over the limit is refused before anything is read."""

    def __init__(self, app: ASGIApp, *, limits: Sequence[tuple[str, int]], default: int) -> None:
        self.app = app
        self.limits = [(re.compile(pattern), limit) for pattern, limit in limits]
        self.default = default

    def limit_for(self, path: str) -> int:
        return next((limit for pattern, limit in self.limits if pattern.fullmatch(path)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(limit, scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, too_large(limit))
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except StarletteHTTPException as exc:  # raised outside a route (no handler caught it)
            if exc.status_code != 413 or started:
                raise
            await _refuse(limit, scope, receive, send)


async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse({"detail": too_large(limit)}, status_code=413, headers={"Connection": "close"})
    await response(scope, receive, send)


def service_app(
    title: str, version: str, *, limits: Sequence[tuple[str, int]], default_limit: int
) -> FastAPI:
    """A service's HTTP app with the shared error shape, input guard and body limits.

    ``limits``: ``(path regex, bytes)`` for the routes that take more than ``default_limit``
    (uploads) or less.
    """
    app = ServiceApp(title=title, version=version)
    app.router.route_class = GuardedRoute
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(BodyLimit, limits=limits, default=default_limit)
    return app
