"""One error envelope for every error the service returns:
``{"error": {"type": ..., "message": ..., "param": ...}}`` (``param`` only when one input field
is to blame). Bad input is a 4xx with a message that says what to change; an unexpected failure
is a 500 whose body says nothing about the code (the trace goes to the server log)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from simmatch.errors import InputError, SimmatchError
from simmatch.service.batching import QueueFullError, ServiceStoppingError
from simmatch.service.engine import RequestTooLargeError

logger = logging.getLogger(__name__)

# Error types, by HTTP status where a status has one meaning.
_STATUS_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "overloaded",
    500: "internal_error",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    type: str
    message: str
    param: str | None = None


class ErrorEnvelope(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class ApiError(Exception):
    """An error the service answers with ``status`` and the envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type or _STATUS_TYPES.get(status, "error")
        self.message = message
        self.param = param
        self.headers = headers


def error_body(type: str, message: str, param: str | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"type": type, "message": message}
    if param is not None:
        detail["param"] = param
    return {"error": detail}


def error_response(
    status: int,
    message: str,
    *,
    type: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = error_body(type or _STATUS_TYPES.get(status, "error"), message, param)
    return JSONResponse(body, status_code=status, headers=headers)


# OpenAPI documentation of the error responses every endpoint may give.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorEnvelope, "description": "malformed JSON or a request the service cannot serve"},
    401: {"model": ErrorEnvelope, "description": "missing or wrong API key"},
    413: {"model": ErrorEnvelope, "description": "request body larger than max_body_bytes"},
    415: {"model": ErrorEnvelope, "description": "body not sent as application/json"},
    422: {"model": ErrorEnvelope, "description": "invalid input or a request limit exceeded"},
    429: {
        "model": ErrorEnvelope,
        "description": "queue full; retry after the Retry-After seconds (the estimated queue drain time)",
    },
    503: {"model": ErrorEnvelope, "description": "the service is shutting down; retry after Retry-After"},
}


def _param(loc: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(p) for p in loc if p != "body"]
    if not parts:
        return None
    out = parts[0]
    for p in parts[1:]:
        out += f"[{p}]" if p.isdigit() else f".{p}"
    return out


def _validation_message(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "invalid value"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    param = _param(err.get("loc", ()))
    return f"{param}: {msg}" if param else msg


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        first = next(e for e in errors if e.get("type") == "json_invalid")
        reason = (first.get("ctx") or {}).get("error", "invalid JSON")
        return error_response(400, f"request body is not valid JSON: {reason}", type="invalid_json")
    message = "; ".join(_validation_message(e) for e in errors[:5])
    if len(errors) > 5:
        message += f"; and {len(errors) - 5} more"
    return error_response(422, message, param=_param(errors[0].get("loc", ())) if errors else None)


async def _on_api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.message, type=exc.type, param=exc.param, headers=exc.headers)


async def _on_simmatch_error(request: Request, exc: SimmatchError) -> JSONResponse:
    # InputError is about the request; any other SimmatchError (a model or data file the request
    # named) is a bad request the client can fix too.
    if isinstance(exc, InputError):
        return error_response(422, str(exc), type="input_error")
    return error_response(400, str(exc), type="bad_request")


async def _on_queue_full(request: Request, exc: QueueFullError) -> JSONResponse:
    return error_response(429, str(exc), headers={"Retry-After": str(exc.retry_after)})


async def _on_stopping(request: Request, exc: ServiceStoppingError) -> JSONResponse:
    return error_response(503, str(exc), headers={"Retry-After": str(exc.retry_after)})


async def _on_too_large(request: Request, exc: RequestTooLargeError) -> JSONResponse:
    return error_response(422, str(exc), type="limit_exceeded")


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404:
        message = f"no such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} not allowed on {request.url.path}"
    return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal server error; the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _on_api_error)  # type: ignore[arg-type]
    app.add_exception_handler(SimmatchError, _on_simmatch_error)  # type: ignore[arg-type]
    app.add_exception_handler(QueueFullError, _on_queue_full)  # type: ignore[arg-type]
    app.add_exception_handler(ServiceStoppingError, _on_stopping)  # type: ignore[arg-type]
    app.add_exception_handler(RequestTooLargeError, _on_too_large)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)
