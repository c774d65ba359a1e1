"""HEAD answered as GET without its body, and the methods a 405 allows (RFC 9110 §9.3.2, §15.5.6).

Litestar routes a HEAD only to a handler declared for HEAD, and a GET handler cannot also be one
(it checks that a HEAD handler returns no body), so uptime checks and `curl -I` got a 405; and its
405 names no allowed methods, which the RFC asks of every 405.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, cast

from litestar.enums import ScopeType
from litestar.routes import HTTPRoute

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.types import HTTPScope, Message, Receive, Scope, Send

# `{name:path}` takes the rest of the path; any other parameter one segment.
_PARAMETER = re.compile(r"\{[^}:]+:([^}]+)\}")


def answer_head_as_get(app: Litestar) -> None:
    """Route every HEAD request as a GET of the same resource and send its answer without body.

    The headers (Content-Length, Content-Type) are the GET's, as the RFC asks. The servers drop
    a HEAD's body themselves (uvicorn does, by the method in its own copy of the scope); this
    drops it too, so that no server or test client depends on that.
    """
    routed = app.asgi_handler

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "HEAD":
            await routed(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await routed(cast("HTTPScope", {**scope, "method": "GET"}), receive, without_body)

    app.asgi_handler = handler


def allowed_methods(app: Litestar, path: str) -> str:
    """The `Allow` header for a path: the methods of the route that takes it, HEAD with GET."""
    for route in _routes_by_precedence(app):
        if _pattern(route.path).fullmatch(path):
            methods = set(route.methods)
            if "GET" in methods:
                methods.add("HEAD")
            return ", ".join(sorted(methods))
    return ""


def _routes_by_precedence(app: Litestar) -> list[HTTPRoute]:
    """The app's HTTP routes, fixed paths before those with parameters (as the router matches)."""
    routes = [route for route in app.routes if isinstance(route, HTTPRoute)]
    return sorted(routes, key=lambda route: len(_PARAMETER.findall(route.path)))


@functools.lru_cache(maxsize=256)
def _pattern(route_path: str) -> re.Pattern[str]:
    parts = _PARAMETER.split(route_path)
    # split() alternates the fixed text and each parameter's type.
    pattern = "".join(
        re.escape(part) if index % 2 == 0 else _segment(part) for index, part in enumerate(parts)
    )
    return re.compile(pattern + "/?")


def _segment(parameter_type: str) -> str:
    return ".*" if parameter_type == "path" else "[^/]+"
