"""HEAD answered as GET without its body (RFC 9110 §9.3.2), and named in a 405's `Allow`.

Litestar routes a HEAD only to a handler declared for HEAD, and a GET handler cannot also be one
(it checks that a HEAD handler returns no body), so uptime checks and `curl -I` got a 405.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from litestar.enums import ScopeType

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.types import HTTPScope, Message, Receive, Scope, Send


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


def with_head_allowed(headers: dict[str, str]) -> dict[str, str]:
    """A 405's headers with HEAD in its `Allow` wherever GET is (answered as above)."""
    key = next((name for name in headers if name.lower() == "allow"), None)
    if key is None:
        return headers
    methods = {method.strip() for method in headers[key].split(",") if method.strip()}
    if "GET" in methods:
        methods.add("HEAD")
    return {**headers, key: ", ".join(sorted(methods))}
