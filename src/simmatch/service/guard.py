"""The checks every request passes before it reaches an endpoint: the API key (401) and the body
size (413). A plain ASGI middleware so a request is refused before its body is read or parsed:
a client without the key learns nothing from validation errors, and an oversized body is never
buffered past the limit."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simmatch.service.errors import error_response
from simmatch.service.playground import is_page_path

OPEN_PATHS = frozenset({"/health"})


class GuardMiddleware:
    def __init__(self, app: ASGIApp, *, api_key: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        path = scope["path"]
        if self.api_key is not None and path not in OPEN_PATHS and not is_page_path(path):
            problem = self._auth_problem(headers.get(b"authorization"))
            if problem:
                response = error_response(401, problem, headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        if scope["method"] == "POST" and not _is_json(headers.get(b"content-type")):
            hint = "send the request body as JSON with the header 'Content-Type: application/json'"
            await error_response(415, hint)(scope, receive, send)
            return
        length = headers.get(b"content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                await error_response(400, "Content-Length is not a number")(scope, receive, send)
                return
            if size > self.max_body_bytes:
                await self._too_large(size, scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        # A chunked body has no length up front: read it up to the limit, then replay it.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._too_large(None, scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)

    def _auth_problem(self, header: bytes | None) -> str | None:
        if header is None:
            return "missing API key: send the header 'Authorization: Bearer <key>'"
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"bearer" or not token.strip():
            return "malformed Authorization header: expected 'Bearer <key>'"
        if not hmac.compare_digest(token.strip(), self.api_key or b""):
            return "invalid API key"
        return None

    async def _too_large(self, size: int | None, scope: Scope, receive: Receive, send: Send) -> None:
        got = f" ({size} bytes)" if size is not None else ""
        message = f"request body too large{got}: the limit is max_body_bytes={self.max_body_bytes}"
        await error_response(413, message)(scope, receive, send)


def _is_json(content_type: bytes | None) -> bool:
    if not content_type:
        return False
    subtype = content_type.split(b";", 1)[0].strip().lower().rpartition(b"/")[2]
    return subtype == b"json" or subtype.endswith(b"+json")


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers", [])}


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
